import ArgumentParser
import Distributed
import Foundation
import Model

/// --model FOLDER of a trained classifier (OUT/model of train or export).
struct ClassifierOptions: ParsableArguments {
    @Option(name: .customLong("model"), help: "Classifier folder written by train or export (OUT/model).")
    var directory: String
    @Option(help: "Texts per forward pass; the run's --eval-batch-size (64) at the run's number of ranks reproduces its logits bit for bit.")
    var batchSize = 64
    @Flag(help: "No progress line.")
    var quiet = false

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1 (got \(batchSize))") }
    }

    func load() throws -> TrainedClassifier { try TrainedClassifier(directory: URL(fileURLWithPath: directory)) }

    /// Progress on rank 0 for inputs long enough to want it.
    func progress(_ comm: Communicator, examples: Int) -> ProgressReporter? {
        quiet || examples < 1000 ? nil : ProgressReporter(enabled: comm.isRoot)
    }
}

struct Predict: RankCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify texts with a trained model folder; JSON Lines out, one line per input, in input order.",
        discussion: """
            --input: one text per line, or JSONL {"text": ..., "text_pair": ...}.
            Each output line:
              {"label": name, "label_id": k, "logits": [...], "probabilities": [...]}
            with probabilities softmax(logits / T), T from the folder's lpft.json
            (--no-temperature: T = 1). The texts are shared by the ranks and gathered
            in order on rank 0.
              scripts/launch -np 2 lpft-mpi predict --model runs/lpft/model \
                --input texts.txt --out predictions.jsonl
            """)

    @OptionGroup var job: JobOptions
    @OptionGroup var classifier: ClassifierOptions
    @Option(help: "Text file (one per line) or JSONL.")
    var input: String
    @Option(help: "Output JSONL file, written by rank 0 when all is done (default: stdout).")
    var out: String?
    @Flag(help: "Probabilities without temperature scaling (T = 1).")
    var noTemperature = false

    func run(comm: Communicator) throws {
        let model = try classifier.load()
        let items = try TextInput.read(URL(fileURLWithPath: input))
        guard !items.isEmpty else { throw ValidationError("--input \(input) holds no texts; give one text per line or JSONL {\"text\": ...}") }
        guard let logits = try model.logits(of: items, comm: comm, batchSize: classifier.batchSize,
                                            progress: classifier.progress(comm, examples: items.count)) else { return }
        let predictions = try model.predictions(logits: logits, temperature: noTemperature ? 1 : model.manifest.temperature)
        if let out {
            try RunFiles.writeJSONLines(predictions, to: URL(fileURLWithPath: out))
        } else {
            for prediction in predictions { try printJSON(prediction) }
        }
    }
}

struct Evaluate: RankCommand {
    static let configuration = CommandConfiguration(
        abstract: "Metrics of a trained model folder on a labelled set: those of metrics.json, per-class scores, confusion matrix.",
        discussion: """
            Labels are matched to the model's class_names by name. Calibration after
            temperature scaling uses the folder's T (fitted on the run's validation
            set). Prints a table; --out writes the JSON (metrics as metrics.json has
            them per set, per_class, confusion_matrix with rows = true class).
              lpft-mpi evaluate --model runs/ft/model --task rt-polarity --split test
              scripts/launch -np 2 lpft-mpi evaluate --model runs/ft/model \
                --test new.csv --out eval.json
            """)

    @OptionGroup var job: JobOptions
    @OptionGroup var classifier: ClassifierOptions
    @Option(help: "Built-in task: \(BuiltinTask.allCases.map(\.rawValue).joined(separator: ", ")).")
    var task: String?
    @Option(help: "Split of --task: train, validation, test or an OOD set's name.")
    var split = "test"
    @Option(help: "Labelled file (CSV, TSV, JSONL, or a --format of the paper's data sets).")
    var test: String?
    @OptionGroup var table: TableOptions
    @Option(help: "Evaluate a fixed random subset of N examples (seed 0, file order), as train --max-eval.")
    var maxExamples: Int?
    @Option(help: "JSON output file, written by rank 0.")
    var out: String?

    func validate() throws {
        guard (task == nil) != (test == nil) else { throw ValidationError("give exactly one of --task T [--split S] or --test FILE") }
        if task != nil && table.format != nil { throw ValidationError("--format goes with --test FILE; a built-in --task has its own") }
        if let task, BuiltinTask(rawValue: task) == nil {
            throw ValidationError("unknown --task '\(task)'; built-in tasks: \(BuiltinTask.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let maxExamples, maxExamples < 1 { throw ValidationError("--max-examples must be at least 1 (got \(maxExamples))") }
    }

    func run(comm: Communicator) throws {
        let model = try classifier.load()
        var (examples, description) = try data(classNames: model.manifest.classNames)
        if let maxExamples {
            examples = Trainer.fixedSubset(examples, count: maxExamples)
            description += " (fixed subset of \(examples.count))"
        }
        guard let report = try model.evaluate(examples, data: description, comm: comm, batchSize: classifier.batchSize,
                                              progress: classifier.progress(comm, examples: examples.count)) else { return }
        if let out { try RunFiles.writeJSON(report, to: URL(fileURLWithPath: out)) }
        print(Self.table(report, temperature: model.manifest.temperature))
    }

    /// The examples with labels indexing `classNames`, and a description for the report.
    func data(classNames: [String]) throws -> (examples: [Example], description: String) {
        if let task {
            let data = try DataOptions.parse(["--task", task]).load()
            let examples = try TaskData.relabel(try data.split(named: split), from: data.classNames, to: classNames)
            return (examples, "task \(task), split \(split)")
        }
        let url = URL(fileURLWithPath: test!)
        if let format = table.paperFormat {
            return (try TaskData.relabel(try format.read(url), from: format.classNames, to: classNames), "\(url.path) (format \(format.rawValue))")
        }
        return (try table.spec(classNames: classNames).read(url, classNames: classNames), url.path)
    }

    /// The report as text: overall metrics, calibration before/after T, per class, confusion.
    static func table(_ r: EvaluationReport, temperature: Double) -> String {
        let m = r.metrics
        func f(_ x: Double) -> String { String(format: "%.4f", x) }
        var lines = ["\(r.model) on \(r.data): \(m.examples) examples",
                     "accuracy \(f(m.accuracy))  macro-F1 \(f(m.f1))  MCC \(f(m.mcc))  mean logit norm \(String(format: "%.3f", m.mean_logit_norm))", ""]
        var rows = [["", "ECE", "MCE", "Brier", "NLL"],
                    ["T = 1", f(m.ece), f(m.mce), f(m.brier), f(m.nll)],
                    [String(format: "T = %.3f", temperature), f(m.ece_ts), f(m.mce_ts), f(m.brier_ts), f(m.nll_ts)]]
        lines += alignedRows(rows) + [""]
        rows = [["class", "precision", "recall", "F1", "support"]]
            + r.per_class.map { [$0.class_name, f($0.precision), f($0.recall), f($0.f1), String($0.support)] }
        lines += alignedRows(rows) + ["", "confusion matrix (rows: true class, columns: predicted)"]
        rows = [[""] + r.class_names] + zip(r.class_names, r.confusion_matrix).map { [$0] + $1.map(String.init) }
        lines += alignedRows(rows)
        return lines.joined(separator: "\n")
    }
}
