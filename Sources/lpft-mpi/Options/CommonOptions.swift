import ArgumentParser
import Distributed
import Foundation
import Model

// Option groups shared by the commands. The files in Options/ parse and check flags only (no
// MPI, nothing runs), so the command-line fuzz targets build them without the rest.

/// Options every multi-rank command accepts (`@OptionGroup var job: JobOptions`; `RankCommand`
/// applies them to the communicator before `run(comm:)`).
struct JobOptions: ParsableArguments {
    @Option(parsing: .unconditional,
            help: ArgumentHelp("Seconds an MPI collective may wait before the job reports which ranks did not arrive and stops (0 = no deadline).",
                               valueName: "seconds"))
    var stallTimeout: Double = JobOptions.defaultStallTimeout

    /// Five minutes: far above any collective of a healthy job on this project's sizes, short
    /// enough that a dead host does not hold a cluster allocation for long.
    static let defaultStallTimeout = 300.0

    func validate() throws {
        try Check.real("--stall-timeout", stallTimeout, in: 0...1e6, hint: "0 turns the deadline off")
    }
}

/// --model DIR, defaulting to the fetched all-MiniLM-L6-v2.
struct ModelOptions: ParsableArguments {
    @Option(name: .customLong("model"), help: "Hugging Face model directory (config.json, model.safetensors, tokenizer files). Default: assets/models/all-MiniLM-L6-v2.")
    var directory: String?

    func validate() throws {
        if let directory { try Check.nonEmpty("--model", directory, expected: "a Hugging Face model directory") }
    }

    func resolve() throws -> URL {
        if let directory {
            let url = URL(fileURLWithPath: directory)
            guard FileManager.default.fileExists(atPath: url.appendingPathComponent("config.json").path) else {
                throw ValidationError("--model \(directory): no config.json there; pass a Hugging Face model directory")
            }
            return url
        }
        guard let url = AssetLocator.defaultModel() else {
            throw ValidationError("no --model given and the default model is not set up; run: bash scripts/setup.sh (or pass --model DIR)")
        }
        return url
    }
}

extension BuiltinTask: ExpressibleByArgument {}
extension PaperFormat: ExpressibleByArgument {}
extension TrainingMethod: ExpressibleByArgument {}

/// Where the examples come from: a built-in task, the paper's file formats, or any table.
struct DataOptions: ParsableArguments {
    @Option(help: "Built-in task: \(BuiltinTask.allCases.map(\.rawValue).joined(separator: ", ")).")
    var task: BuiltinTask?
    @Option(help: "Training file (CSV, TSV, JSONL, or a --format of the paper).")
    var train: String?
    @Option(help: "Validation file (default: the last 10% of --train, as the paper).")
    var validation: String?
    @Option(help: "Test file.")
    var test: String?
    @Option(help: "Out-of-distribution test set as NAME=FILE (repeatable; NAME not train, validation or test).")
    var ood: [String] = []
    @OptionGroup var table: TableOptions
    @Option(help: "The classes of a generic table, comma-separated, e.g. negative,positive (default: inferred from the training file's labels; any other label is an error).")
    var labels: String?

    /// A short description for config.json.
    var summary: String {
        if let task { return "task \(task.rawValue)" }
        return "files train=\(train ?? "-") validation=\(validation ?? "-") test=\(test ?? "-") ood=\(ood.joined(separator: ",")) format=\(table.format?.rawValue ?? "table")"
            + (labels.map { " labels=\($0)" } ?? "")
    }

    func validate() throws {
        if task != nil && (train != nil || test != nil || validation != nil || !ood.isEmpty || labels != nil) {
            throw ValidationError("give either --task or data files (--train/--test/...), not both")
        }
        if task != nil, let flag = table.firstGiven {
            throw ValidationError("\(flag) goes with data files (--train/--test); a built-in --task has its own format")
        }
        if task == nil && (train == nil || test == nil) {
            throw ValidationError("give --task \(BuiltinTask.allCases.map(\.rawValue).joined(separator: "|")) or both --train FILE and --test FILE")
        }
        for (flag, path) in [("--train", train), ("--validation", validation), ("--test", test)] {
            if let path { try Check.nonEmpty(flag, path, expected: "a data file") }
        }
        var names: Set<String> = []
        for item in ood {
            let (name, file) = try Self.oodParts(item)
            try TaskData.checkOODName(name)
            try Check.nonEmpty("--ood \(name)=", file, expected: "NAME=FILE with a data file after '='")
            guard names.insert(name).inserted else {
                throw ValidationError("--ood \(name) is given twice; give each OOD set its own name")
            }
        }
        if labels != nil, let format = table.format {
            throw ValidationError("--labels goes with generic tables; the --format \(format.rawValue) has its own classes (\(format.classNames.joined(separator: ",")))")
        }
        _ = try classNames()
    }

    /// NAME and FILE of an `--ood NAME=FILE` item.
    static func oodParts(_ item: String) throws -> (name: String, file: String) {
        guard let equals = item.firstIndex(of: "=") else {
            throw ValidationError("--ood \(item) must be NAME=FILE")
        }
        return (String(item[..<equals]), String(item[item.index(after: equals)...]))
    }

    /// The declared classes (--labels), or nil to infer them.
    func classNames() throws -> [String]? {
        guard let labels else { return nil }
        let names = labels.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard names.count >= 2, names.allSatisfy({ !$0.isEmpty }), Set(names).count == names.count else {
            throw InvalidSetting("--labels", value: labels, expected: "at least 2 distinct, non-empty class names separated by commas, e.g. negative,positive")
        }
        return names
    }

    func load() throws -> TaskData {
        if let task { return try loadBuiltinTask(task) }
        let oodFiles = try ood.map { item in
            let (name, file) = try Self.oodParts(item)
            return (name: name, url: URL(fileURLWithPath: file))
        }
        let trainURL = URL(fileURLWithPath: train!), testURL = URL(fileURLWithPath: test!)
        let validationURL = validation.map { URL(fileURLWithPath: $0) }
        if let format = table.format {
            return try TaskData.paperTask(format: format, trainFile: trainURL, validationFile: validationURL,
                                          testFile: testURL, oodFiles: oodFiles)
        }
        return try TaskData.loadGeneric(train: trainURL, validation: validationURL, test: testURL,
                                        ood: oodFiles, spec: table.spec(classNames: try classNames()))
    }
}

/// How a data file is read: a format of the paper's data sets, or the columns of a table.
struct TableOptions: ParsableArguments {
    @Option(help: "File format of the paper's data sets: \(PaperFormat.allCases.map(\.rawValue).joined(separator: ", ")) (default: a generic table).")
    var format: PaperFormat?
    @Option(help: "Column with the text (generic tables).")
    var textColumn = "text"
    @Option(help: "Column with the second text of a pair (generic tables).")
    var textPairColumn: String?
    @Option(help: "Column with the label (generic tables).")
    var labelColumn = "label"

    /// The column flags given (values other than their defaults): they read generic tables only.
    var columnFlags: [String] {
        [("--text-column", textColumn != "text"), ("--text-pair-column", textPairColumn != nil),
         ("--label-column", labelColumn != "label")].filter(\.1).map(\.0)
    }

    /// The first flag of this group given, if any (for "goes with data files" messages).
    var firstGiven: String? { format.map { _ in "--format" } ?? columnFlags.first }

    func validate() throws {
        if let format, let flag = columnFlags.first {
            throw ValidationError("\(flag) goes with generic tables; the --format \(format.rawValue) has its own columns")
        }
    }

    /// The generic table's columns; `classNames` fixes the class list (nil: inferred).
    func spec(classNames: [String]?) -> GenericTableSpec {
        GenericTableSpec(textColumn: textColumn, textPairColumn: textPairColumn, labelColumn: labelColumn, classNames: classNames)
    }
}

/// The data of a built-in task (fetched by `bash scripts/setup.sh`); `data.examples(ofSplit:)`
/// gives one of its splits.
func loadBuiltinTask(_ task: BuiltinTask) throws -> TaskData {
    guard let root = AssetLocator.dataRoot() else {
        throw ValidationError("the built-in data sets are not set up; run: bash scripts/setup.sh")
    }
    return try TaskData.load(task, dataRoot: root)
}
