/**
 * The part of the OTLP protobuf schema (opentelemetry-proto v1: common, resource, trace,
 * metrics, logs and the three Export*ServiceRequest messages) the tests read, as a protobufjs
 * JSON descriptor. Field numbers are the official ones; fields left out (events, exemplars,
 * exponential histograms, summaries) are skipped by the decoder as unknown fields.
 */
const KV = { rule: "repeated", type: "KeyValue" } as const;

export const OTLP_DESCRIPTOR = {
  nested: {
    otlp: {
      nested: {
        AnyValue: {
          oneofs: {
            value: {
              oneof: [
                "stringValue",
                "boolValue",
                "intValue",
                "doubleValue",
                "arrayValue",
                "kvlistValue",
                "bytesValue",
              ],
            },
          },
          fields: {
            stringValue: { type: "string", id: 1 },
            boolValue: { type: "bool", id: 2 },
            intValue: { type: "int64", id: 3 },
            doubleValue: { type: "double", id: 4 },
            arrayValue: { type: "ArrayValue", id: 5 },
            kvlistValue: { type: "KeyValueList", id: 6 },
            bytesValue: { type: "bytes", id: 7 },
          },
        },
        ArrayValue: { fields: { values: { rule: "repeated", type: "AnyValue", id: 1 } } },
        KeyValueList: { fields: { values: { ...KV, id: 1 } } },
        KeyValue: {
          fields: { key: { type: "string", id: 1 }, value: { type: "AnyValue", id: 2 } },
        },
        InstrumentationScope: {
          fields: { name: { type: "string", id: 1 }, version: { type: "string", id: 2 } },
        },
        Resource: { fields: { attributes: { ...KV, id: 1 } } },

        ExportTraceServiceRequest: {
          fields: { resourceSpans: { rule: "repeated", type: "ResourceSpans", id: 1 } },
        },
        ResourceSpans: {
          fields: {
            resource: { type: "Resource", id: 1 },
            scopeSpans: { rule: "repeated", type: "ScopeSpans", id: 2 },
          },
        },
        ScopeSpans: {
          fields: {
            scope: { type: "InstrumentationScope", id: 1 },
            spans: { rule: "repeated", type: "Span", id: 2 },
          },
        },
        Span: {
          fields: {
            traceId: { type: "bytes", id: 1 },
            spanId: { type: "bytes", id: 2 },
            traceState: { type: "string", id: 3 },
            parentSpanId: { type: "bytes", id: 4 },
            name: { type: "string", id: 5 },
            kind: { type: "int32", id: 6 },
            startTimeUnixNano: { type: "fixed64", id: 7 },
            endTimeUnixNano: { type: "fixed64", id: 8 },
            attributes: { ...KV, id: 9 },
            links: { rule: "repeated", type: "Link", id: 13 },
            status: { type: "Status", id: 15 },
          },
        },
        Link: {
          fields: {
            traceId: { type: "bytes", id: 1 },
            spanId: { type: "bytes", id: 2 },
            attributes: { ...KV, id: 4 },
          },
        },
        Status: { fields: { message: { type: "string", id: 2 }, code: { type: "int32", id: 3 } } },

        ExportMetricsServiceRequest: {
          fields: { resourceMetrics: { rule: "repeated", type: "ResourceMetrics", id: 1 } },
        },
        ResourceMetrics: {
          fields: {
            resource: { type: "Resource", id: 1 },
            scopeMetrics: { rule: "repeated", type: "ScopeMetrics", id: 2 },
          },
        },
        ScopeMetrics: {
          fields: {
            scope: { type: "InstrumentationScope", id: 1 },
            metrics: { rule: "repeated", type: "Metric", id: 2 },
          },
        },
        Metric: {
          fields: {
            name: { type: "string", id: 1 },
            description: { type: "string", id: 2 },
            unit: { type: "string", id: 3 },
            gauge: { type: "Gauge", id: 5 },
            sum: { type: "Sum", id: 7 },
            histogram: { type: "Histogram", id: 9 },
          },
        },
        Gauge: { fields: { dataPoints: { rule: "repeated", type: "NumberDataPoint", id: 1 } } },
        Sum: {
          fields: {
            dataPoints: { rule: "repeated", type: "NumberDataPoint", id: 1 },
            aggregationTemporality: { type: "int32", id: 2 },
            isMonotonic: { type: "bool", id: 3 },
          },
        },
        Histogram: {
          fields: {
            dataPoints: { rule: "repeated", type: "HistogramDataPoint", id: 1 },
            aggregationTemporality: { type: "int32", id: 2 },
          },
        },
        NumberDataPoint: {
          fields: {
            attributes: { ...KV, id: 7 },
            timeUnixNano: { type: "fixed64", id: 3 },
            asDouble: { type: "double", id: 4 },
            asInt: { type: "sfixed64", id: 6 },
          },
        },
        HistogramDataPoint: {
          fields: {
            attributes: { ...KV, id: 9 },
            count: { type: "fixed64", id: 4 },
            sum: { type: "double", id: 5 },
            bucketCounts: { rule: "repeated", type: "fixed64", id: 6 },
            explicitBounds: { rule: "repeated", type: "double", id: 7 },
          },
        },

        ExportLogsServiceRequest: {
          fields: { resourceLogs: { rule: "repeated", type: "ResourceLogs", id: 1 } },
        },
        ResourceLogs: {
          fields: {
            resource: { type: "Resource", id: 1 },
            scopeLogs: { rule: "repeated", type: "ScopeLogs", id: 2 },
          },
        },
        ScopeLogs: {
          fields: {
            scope: { type: "InstrumentationScope", id: 1 },
            logRecords: { rule: "repeated", type: "LogRecord", id: 2 },
          },
        },
        LogRecord: {
          fields: {
            timeUnixNano: { type: "fixed64", id: 1 },
            severityNumber: { type: "int32", id: 2 },
            severityText: { type: "string", id: 3 },
            body: { type: "AnyValue", id: 5 },
            attributes: { ...KV, id: 6 },
            traceId: { type: "bytes", id: 9 },
            spanId: { type: "bytes", id: 10 },
          },
        },
      },
    },
  },
};
