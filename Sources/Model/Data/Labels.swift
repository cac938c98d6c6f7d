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

    /// The class list inferred from a training file's labels: sorted numerically when every
    /// label is an integer (so "2" < "10"), otherwise sorted as strings.
    static func inferred(from labels: some Sequence<String>) -> [String] {
        let distinct = Set(labels)
        let numbered = distinct.compactMap { label in Int(label).map { (value: $0, label: label) } }
        if numbered.count == distinct.count {
            return numbered.sorted { ($0.value, $0.label) < ($1.value, $1.label) }.map(\.label)
        }
        return distinct.sorted()
    }
}
