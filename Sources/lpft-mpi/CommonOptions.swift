import ArgumentParser
import Distributed
import Foundation
import Model

/// --model DIR, defaulting to the fetched all-MiniLM-L6-v2.
struct ModelOptions: ParsableArguments {
    @Option(name: .customLong("model"), help: "Hugging Face model directory (config.json, model.safetensors, tokenizer files). Default: assets/models/all-MiniLM-L6-v2.")
    var directory: String?

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

/// Where the examples come from: a built-in task, the paper's file formats, or any table.
struct DataOptions: ParsableArguments {
    @Option(help: "Built-in task: \(BuiltinTask.allCases.map(\.rawValue).joined(separator: ", ")).")
    var task: String?
    @Option(help: "Training file (CSV, TSV, JSONL, or a --format of the paper).")
    var train: String?
    @Option(help: "Validation file (default: the last 10% of --train, as the paper).")
    var validation: String?
    @Option(help: "Test file.")
    var test: String?
    @Option(help: "Out-of-distribution test set as NAME=FILE (repeatable).")
    var ood: [String] = []
    @OptionGroup var table: TableOptions

    /// A short description for config.json.
    var summary: String {
        if let task { return "task \(task)" }
        return "files train=\(train ?? "-") validation=\(validation ?? "-") test=\(test ?? "-") ood=\(ood.joined(separator: ",")) format=\(table.format ?? "table")"
    }

    func validate() throws {
        if task != nil && (train != nil || test != nil || validation != nil || !ood.isEmpty) {
            throw ValidationError("give either --task or data files (--train/--test/...), not both")
        }
        if task == nil && (train == nil || test == nil) {
            throw ValidationError("give --task \(BuiltinTask.allCases.map(\.rawValue).joined(separator: "|")) or both --train FILE and --test FILE")
        }
        if let task, BuiltinTask(rawValue: task) == nil {
            throw ValidationError("unknown --task '\(task)'; built-in tasks: \(BuiltinTask.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        for item in ood where !item.contains("=") {
            throw ValidationError("--ood '\(item)' must be NAME=FILE")
        }
    }

    func load() throws -> TaskData {
        if let task, let builtin = BuiltinTask(rawValue: task) {
            guard let root = AssetLocator.dataRoot() else {
                throw ValidationError("the built-in data sets are not set up; run: bash scripts/setup.sh")
            }
            return try TaskData.load(builtin, dataRoot: root)
        }
        let oodFiles: [(name: String, url: URL)] = ood.map { item in
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            return (parts[0], URL(fileURLWithPath: parts[1]))
        }
        let trainURL = URL(fileURLWithPath: train!), testURL = URL(fileURLWithPath: test!)
        let validationURL = validation.map { URL(fileURLWithPath: $0) }
        if let paperFormat = table.paperFormat {
            return try TaskData.paperTask(format: paperFormat, trainFile: trainURL, validationFile: validationURL,
                                          testFile: testURL, oodFiles: oodFiles)
        }
        return try TaskData.loadGeneric(train: trainURL, validation: validationURL, test: testURL,
                                        ood: oodFiles, spec: table.spec())
    }
}

/// How data files are read: a format of the paper's data sets, or the columns of a table.
struct TableOptions: ParsableArguments {
    @Option(help: "File format of the paper's data sets: \(PaperFormat.allCases.map(\.rawValue).joined(separator: ", ")) (default: a generic table).")
    var format: String?
    @Option(help: "Column with the text (generic tables).")
    var textColumn = "text"
    @Option(help: "Column with the second text of a pair (generic tables).")
    var textPairColumn: String?
    @Option(help: "Column with the label (generic tables).")
    var labelColumn = "label"

    func validate() throws {
        if let format, PaperFormat(rawValue: format) == nil {
            throw ValidationError("unknown --format '\(format)'; expected one of \(PaperFormat.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    var paperFormat: PaperFormat? { format.flatMap(PaperFormat.init(rawValue:)) }

    /// The generic table's columns; `classNames` fixes the class list (else the training file's).
    func spec(classNames: [String]? = nil) -> GenericTableSpec {
        GenericTableSpec(textColumn: textColumn, textPairColumn: textPairColumn, labelColumn: labelColumn, classNames: classNames)
    }
}

extension TrainingMethod: ExpressibleByArgument {}
extension ModelSaving: ExpressibleByArgument {}
