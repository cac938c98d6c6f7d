import Foundation

/// Texts to embed or tokenize: one text per line, or JSONL lines {"text": …, "text_pair": …}
/// (chosen by a .jsonl/.json extension or a first line starting with "{").
public enum TextInput {
    public struct Item: Equatable, Sendable {
        public var text: String
        public var pair: String?

        public init(text: String, pair: String?) {
            self.text = text
            self.pair = pair
        }
    }

    public static func read(_ url: URL) throws -> [Item] {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw DataError.missingFile(path: url.path, hint: "pass an existing text or JSONL file with --input")
        }
        guard let content = String(data: data, encoding: .utf8) else {
            throw DataError.invalidEncoding(path: url.path, line: 1)
        }
        var lines = content.components(separatedBy: "\n").map { $0.hasSuffix("\r") ? String($0.dropLast()) : $0 }
        if lines.last == "" { lines.removeLast() }
        let jsonl = ["jsonl", "json"].contains(url.pathExtension.lowercased())
            || lines.first?.trimmingCharacters(in: .whitespaces).hasPrefix("{") == true
        guard jsonl else { return lines.map { Item(text: $0, pair: nil) } }
        var items: [Item] = []
        for (index, line) in lines.enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
                throw DataError.malformedRow(path: url.path, line: index + 1, expected: "a JSON object", found: String(line.prefix(60)))
            }
            guard let text = object["text"] as? String else {
                throw DataError.missingColumn(path: url.path, line: index + 1, column: "text", available: object.keys.sorted())
            }
            items.append(Item(text: text, pair: object["text_pair"] as? String))
        }
        return items
    }
}
