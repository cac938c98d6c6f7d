import ArgumentParser
import Distributed
import Foundation
import Model

extension ClassifierOptions {
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
              scripts/launch -np 2 lpft-mpi predict --model runs/lpft/model \\
                --input texts.txt --out predictions.jsonl
            """)

    @OptionGroup var options: PredictOptions
    @OptionGroup var job: JobOptions

    func run(comm: Communicator) throws {
        let classifier = options.classifier
        let model = try classifier.load()
        let items = try TextInput.read(URL(fileURLWithPath: options.input))
        guard !items.isEmpty else {
            throw InvalidSetting("--input", value: options.input, expected: "a file with at least one text",
                                 hint: "give one text per line, or JSONL lines {\"text\": ...}")
        }
        guard let logits = try model.logits(of: items, comm: comm, batchSize: classifier.evalBatchSize,
                                            progress: classifier.progress(comm, examples: items.count)) else { return }
        let predictions = try model.predictions(logits: logits, temperature: options.noTemperature ? 1 : model.manifest.temperature)
        if let out = options.out {
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
              scripts/launch -np 2 lpft-mpi evaluate --model runs/ft/model \\
                --test new.csv --out eval.json
            """)

    @OptionGroup var options: EvaluateOptions
    @OptionGroup var job: JobOptions

    func run(comm: Communicator) throws {
        let classifier = options.classifier
        let model = try classifier.load()
        var (examples, description) = try data(classNames: model.manifest.classNames)
        if let maxEval = options.maxEval {
            examples = Trainer.fixedSubset(examples, count: maxEval)
            description += " (fixed subset of \(examples.count))"
        }
        guard let report = try model.evaluate(examples, data: description, comm: comm, batchSize: classifier.evalBatchSize,
                                              progress: classifier.progress(comm, examples: examples.count)) else { return }
        if let out = options.out { try RunFiles.writeJSON(report, to: URL(fileURLWithPath: out)) }
        print(Self.table(report, temperature: model.manifest.temperature))
    }

    /// The examples with labels indexing `classNames`, and a description for the report.
    func data(classNames: [String]) throws -> (examples: [Example], description: String) {
        if let task = options.task {
            let data = try loadBuiltinTask(task)
            let examples = try TaskData.relabel(try data.examples(ofSplit: options.split), from: data.classNames, to: classNames)
            return (examples, "task \(task.rawValue), split \(options.split)")
        }
        let url = URL(fileURLWithPath: options.test!)
        if let format = options.table.format {
            return (try TaskData.relabel(try format.read(url), from: format.classNames, to: classNames), "\(url.path) (format \(format.rawValue))")
        }
        return (try options.table.spec(classNames: classNames).read(url, classNames: classNames), url.path)
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
