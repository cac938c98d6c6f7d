import Foundation

/// Maps label strings of a file to class indices through a fixed class list.
struct ClassIndex {
    let classNames: [String]
    private let indexOf: [String: Int]

    /// `aliases` are extra spellings of a class (e.g. "0" for "negative").
    init(_ classNames: [String], aliases: [String: Int] = [:]) {
        self.classNames = classNames
        var indexOf = aliases
        for (index, name) in classNames.enumerated() { indexOf[name] = index }
        self.indexOf = indexOf
    }

    /// The class index of `label`, or an error with file:line and the known classes.
    func index(of label: String, in file: SourceFile, line: Int) throws -> Int {
        guard let index = indexOf[label] else {
            throw DataError.unknownLabel(path: file.path, line: line, label: label, knownClasses: classNames)
        }
        return index
    }

    /// The class list inferred from a training file's labels, or an error naming the first
    /// label that does not fit (file:line) and how to declare the classes instead (--labels).
    /// A stray label must not silently become a class of its own, so the labels must be one kind:
    /// - whole numbers forming 0…K−1 or 1…K (written plainly: "1", not "1.0", "+1" or "01"),
    ///   sorted numerically (so "2" < "10");
    /// - true/false;
    /// - names (any other text), sorted as strings;
    /// and no label may start or end with white space. Numbers that are not whole ("0.5",
    /// "1e9") and a mix of kinds are refused.
    static func inferred(from rows: [(line: Int, label: String)], in file: SourceFile) throws -> [String] {
        enum Kind: String { case integer = "whole numbers", boolean = "true/false", name = "names" }
        func kind(_ label: String) -> Kind {
            if let value = Int(label), String(value) == label { return .integer }
            if label == "true" || label == "false" { return .boolean }
            return .name
        }
        func refuse(_ line: Int, _ label: String, _ why: String) -> DataError {
            .invalidLabel(path: file.path, line: line, label: label, reason: why)
        }
        for row in rows {
            if row.label != row.label.trimmingCharacters(in: .whitespacesAndNewlines) {
                throw refuse(row.line, row.label, "it starts or ends with white space")
            }
            if kind(row.label) != .integer, Double(row.label) != nil || row.label.lowercased() == "nan" {
                throw refuse(row.line, row.label, "it is a number but not a plain whole number (class labels are 0…K−1, names or true/false)")
            }
        }
        // The kind most labels have; the first label of another kind is the stray one.
        var counts: [Kind: Int] = [:]
        for row in rows { counts[kind(row.label), default: 0] += 1 }
        let majority = counts.max { ($0.value, $0.key.rawValue) < ($1.value, $1.key.rawValue) }?.key ?? .name
        if let stray = rows.first(where: { kind($0.label) != majority }) {
            throw refuse(stray.line, stray.label, "the other labels of the file are \(majority.rawValue)")
        }
        let distinct = Set(rows.map(\.label))
        guard majority == .integer else { return distinct.sorted() }
        let values = distinct.compactMap { Int($0) }.sorted()
        let first = values.first ?? 0
        if first == 0 || first == 1, values.last == first + values.count - 1 { return values.map(String.init) }
        // Not 0…K−1 or 1…K: name the first row outside 0…K, else the set.
        let k = values.count
        if let stray = rows.first(where: { Int($0.label).map { $0 < 0 || $0 > k } ?? false }) {
            throw refuse(stray.line, stray.label, "whole-number labels must be 0…K−1 or 1…K, and this file's are "
                         + values.prefix(10).map(String.init).joined(separator: ", ") + (values.count > 10 ? ", …" : ""))
        }
        throw DataError.invalidLabel(path: file.path, line: rows.first?.line ?? 1, label: values.map(String.init).joined(separator: ","),
                                     reason: "whole-number labels must be 0…K−1 or 1…K without gaps")
    }
}
