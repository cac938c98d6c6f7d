import Foundation

/// A JSON value as the readers need it: scalars keep their kind so a label can be turned into
/// its string form; arrays and objects are only recognised, never used.
enum JSONField: Decodable, Equatable {
    case string(String)
    case bool(Bool)
    case integer(Int)
    case number(Double)
    case null
    case nested  // an array or an object

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null; return }
        if let value = try? container.decode(Bool.self) { self = .bool(value); return }
        if let value = try? container.decode(Int.self) { self = .integer(value); return }
        if let value = try? container.decode(Double.self) { self = .number(value); return }
        if let value = try? container.decode(String.self) { self = .string(value); return }
        self = .nested
    }

    /// The string form used to match labels: strings as they are, booleans "true"/"false",
    /// integers (and integral numbers) in decimal; nil for null, arrays and objects.
    var labelString: String? {
        switch self {
        case let .string(value): return value
        case let .bool(value): return value ? "true" : "false"
        case let .integer(value): return String(value)
        case let .number(value):
            return value.rounded() == value && abs(value) < 1e15 ? String(Int(value)) : String(value)
        case .null, .nested: return nil
        }
    }
}

/// One JSON Lines record: the object's fields and its 1-based line.
struct JSONRecord {
    let line: Int
    let fields: [String: JSONField]

    /// A string field, or an error naming the file:line and the fields present.
    func string(_ name: String, in file: SourceFile) throws -> String {
        guard let value = fields[name] else {
            throw DataError.missingColumn(path: file.path, line: line, column: name, available: fields.keys.sorted())
        }
        guard case let .string(text) = value else {
            throw DataError.malformedRow(path: file.path, line: line, expected: "field \"\(name)\" to be a string",
                                         found: value.labelString ?? "null, an array or an object")
        }
        return text
    }

    /// A scalar field in its string form (see `JSONField.labelString`).
    func scalar(_ name: String, in file: SourceFile) throws -> String {
        guard let value = fields[name] else {
            throw DataError.missingColumn(path: file.path, line: line, column: name, available: fields.keys.sorted())
        }
        guard let text = value.labelString else {
            throw DataError.malformedRow(path: file.path, line: line,
                                         expected: "field \"\(name)\" to be a string, number or boolean",
                                         found: "null, an array or an object")
        }
        return text
    }
}

enum JSONLines {
    /// Parses a JSON Lines file: one JSON object per line; blank lines are skipped.
    static func records(of file: SourceFile) throws -> [JSONRecord] {
        let decoder = JSONDecoder()
        var records: [JSONRecord] = []
        try file.forEachLine { line, bytes in
            guard !ASCII.isBlank(bytes) else { return }
            // Bad UTF-8 inside a string would otherwise decode as "not a string" further on.
            _ = try file.decode(bytes, line: line)
            do {
                let fields = try decoder.decode([String: JSONField].self, from: Data(buffer: bytes))
                records.append(JSONRecord(line: line, fields: fields))
            } catch {
                throw DataError.malformedRow(path: file.path, line: line, expected: "one JSON object on the line",
                                             found: "text that does not parse as a JSON object")
            }
        }
        return records
    }
}
