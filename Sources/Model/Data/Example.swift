import Foundation

/// One labelled text-classification example.
public struct Example: Sendable, Equatable, Codable {
    /// Stable, meaningful identifier: the source id where the data has one ("amazon:1_1",
    /// "bbc:tech/001"), otherwise file name and the line where the row starts ("train.tsv:17").
    public var id: String
    /// The first (or only) text segment.
    public var text: String
    /// The second segment of a sentence-pair task (premise/hypothesis, question/passage), else nil.
    public var textPair: String?
    /// Index into the task's `classNames`.
    public var label: Int

    public init(id: String, text: String, textPair: String? = nil, label: Int) {
        self.id = id
        self.text = text
        self.textPair = textPair
        self.label = label
    }
}

/// A named evaluation set, e.g. one out-of-distribution test set.
public struct NamedSplit: Sendable {
    public var name: String
    public var examples: [Example]

    public init(name: String, examples: [Example]) {
        self.name = name
        self.examples = examples
    }
}

/// A classification task: its classes and its train / validation / test / OOD examples.
/// Every example's `label` indexes `classNames`.
public struct TaskData: Sendable {
    public var name: String
    public var classNames: [String]
    public var train: [Example]
    public var validation: [Example]
    public var test: [Example]
    /// Out-of-distribution test sets, in a fixed order.
    public var ood: [NamedSplit]

    public init(name: String, classNames: [String], train: [Example], validation: [Example],
                test: [Example], ood: [NamedSplit] = []) {
        self.name = name
        self.classNames = classNames
        self.train = train
        self.validation = validation
        self.test = test
        self.ood = ood
    }
}

extension TaskData {
    /// Names the standard splits take in results (metrics.json, reports): an OOD set may not
    /// take one of them, or it would replace that split's numbers.
    public static let reservedSplitNames: Set<String> = ["train", "validation", "test"]

    /// Every OOD set has a non-empty name of its own: not a standard split's, not another OOD
    /// set's (a repeated name would silently drop a set from the results).
    public func checkSplitNames() throws {
        var seen: Set<String> = []
        for split in ood {
            try Self.checkOODName(split.name)
            guard seen.insert(split.name).inserted else {
                throw InvalidSetting("--ood", value: split.name, expected: "a name used once",
                                     hint: "give each OOD set its own NAME in NAME=FILE")
            }
        }
    }

    /// An OOD set's name: letters, digits, '-', '_' or '.', and not a standard split's name.
    public static func checkOODName(_ name: String) throws {
        let allowed = !name.isEmpty && name.count <= 64 && name.allSatisfy {
            $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".")
        }
        guard allowed, !reservedSplitNames.contains(name) else {
            throw InvalidSetting("--ood", value: name.isEmpty ? "(empty NAME)" : name,
                                 expected: "NAME=FILE with a NAME of letters, digits, '-', '_' or '.' (at most 64) "
                                     + "other than \(reservedSplitNames.sorted().joined(separator: ", "))",
                                 hint: "those names are the standard splits' own results")
        }
    }

    /// The examples of the split called `name`: train, validation, test or an OOD set's name.
    public func examples(ofSplit name: String) throws -> [Example] {
        switch name {
        case "train": return train
        case "validation": return validation
        case "test": return test
        default:
            if let split = ood.first(where: { $0.name == name }) { return split.examples }
            let known = ["train", "validation", "test"] + ood.map(\.name)
            throw InvalidSetting("split", value: name, expected: "a split of task \(self.name): \(known.joined(separator: ", "))")
        }
    }

    /// `examples`, whose labels index `classNames`, with labels indexing `targetClasses` instead,
    /// matched by name (a model's classes); a label the target lacks is an error naming the
    /// example (its file:line where it has one).
    public static func relabel(_ examples: [Example], from classNames: [String], to targetClasses: [String]) throws -> [Example] {
        let target = Dictionary(targetClasses.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        return try examples.map { example in
            let name = classNames[example.label]
            guard let label = target[name] else {
                throw DataError.unknownClass(example: example.id, label: name, knownClasses: targetClasses)
            }
            var relabeled = example
            relabeled.label = label
            return relabeled
        }
    }
}

/// Why a data file could not be turned into examples. Each case names the file (and the line
/// where one applies), says what was expected, and what to do.
public enum DataError: Error, LocalizedError, Equatable {
    /// The file does not exist. `hint` says how to get it.
    case missingFile(path: String, hint: String)
    /// The file exists but could not be read (a directory, permissions, I/O).
    case unreadableFile(path: String, reason: String)
    /// The bytes of this line are not valid UTF-8.
    case invalidEncoding(path: String, line: Int)
    /// A row does not have the expected shape.
    case malformedRow(path: String, line: Int, expected: String, found: String)
    /// A label that is not one of the task's classes.
    case unknownLabel(path: String, line: Int, label: String, knownClasses: [String])
    /// An example's label is not among the classes it must map to (a model's, by name).
    case unknownClass(example: String, label: String, knownClasses: [String])
    /// A label of a training file from which the classes are inferred does not fit the others
    /// (a stray value would otherwise become a class of its own).
    case invalidLabel(path: String, line: Int, label: String, reason: String)
    /// A required column (or JSON field) is absent; `available` lists what the file has.
    /// `line` is nil for a header, the row's line for a JSON Lines record.
    case missingColumn(path: String, line: Int?, column: String, available: [String])
    /// The file holds no examples.
    case noExamples(path: String)
    /// The file name does not end in an extension the reader knows.
    case unsupportedFormat(path: String, expected: String)
    /// A caller-supplied setting is out of range.
    case invalidSetting(name: String, value: String, expected: String)

    public var errorDescription: String? {
        switch self {
        case let .missingFile(path, hint):
            return "\(path): file not found. \(hint)"
        case let .unreadableFile(path, reason):
            return "\(path): cannot read the file (\(reason)). Check that it is a readable regular file."
        case let .invalidEncoding(path, line):
            return "\(path):\(line): the line is not valid UTF-8. Re-save the file as UTF-8."
        case let .malformedRow(path, line, expected, found):
            return "\(path):\(line): malformed row: expected \(expected), found \(found). Fix or remove this row."
        case let .unknownLabel(path, line, label, knownClasses):
            return "\(path):\(line): unknown label \"\(label)\"; the known classes are: "
                + knownClasses.joined(separator: ", ")
                + ". Use one of these labels, or declare the classes with --labels."
        case let .invalidLabel(path, line, label, reason):
            return "\(path):\(line): label \"\(label)\" cannot be a class: \(reason). Fix the label, or declare the classes "
                + "with --labels (e.g. --labels negative,positive), which makes any other label an error."
        case let .unknownClass(example, label, knownClasses):
            return "\(example): label \"\(label)\" is not one of the model's classes: " + knownClasses.joined(separator: ", ")
                + ". Labels are matched to the model's classes by name; evaluate on data with these labels."
        case let .missingColumn(path, line, column, available):
            let place = line.map { "\(path):\($0)" } ?? path
            return "\(place): no column \"\(column)\"; the columns present are: "
                + (available.isEmpty ? "(none)" : available.joined(separator: ", "))
                + ". Name one of these (names are case-sensitive); unlabelled files such as GLUE/SuperGLUE"
                + " test splits cannot be used — the paper uses the validation file as its test set."
        case let .noExamples(path):
            return "\(path): the file contains no examples. Check that it is the right file and not empty."
        case let .unsupportedFormat(path, expected):
            return "\(path): unsupported file type; expected \(expected). Rename or convert the file."
        case let .invalidSetting(name, value, expected):
            return "\(name) = \(value) is invalid: expected \(expected)."
        }
    }
}
