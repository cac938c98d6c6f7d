import Foundation
import Model

/// A classifier folder written by `train` or `export` (OUT/model), ready to score text on the
/// ranks of a job: `lpft-mpi predict` and `lpft-mpi evaluate`.
///
/// The encoder and tokenizer open through `ModelDirectory`, as training's base model does, so a
/// folder whose files disagree fails with the same checks; the head comes from
/// classifier.safetensors, the rest from lpft.json (checked against the encoder).
/// Texts are scored by the trainer's evaluation path (`shardedForward`: length-sorted batches,
/// batch b on rank b mod P, gathered in order on rank 0), so a run's own evaluation set gives
/// the run's logits bit for bit at the same number of ranks and batch size.
public final class TrainedClassifier {
    public let directory: URL
    public let model: SequenceClassifier<Float>
    public let tokenizer: any TextTokenizer
    public let manifest: ClassifierManifest
    let files: ModelDirectory

    public init(directory: URL) throws {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isFolder), isFolder.boolValue else {
            throw ExportError.invalidFolder(directory.path, "no such folder; pass the model folder a run wrote (OUT/model)")
        }
        let manager = FileManager.default
        if manager.fileExists(atPath: directory.appendingPathComponent("adapter_config.json").path),
           !manager.fileExists(atPath: directory.appendingPathComponent("config.json").path) {
            throw ExportError.invalidFolder(directory.path, "a PEFT adapter folder (adapter_config.json), not a model; predict and "
                                            + "evaluate take the merged model folder written next to it (../model)")
        }
        // The head files first: a bare encoder gets pointed to `embed`.
        for file in ["classifier.safetensors", ClassifierManifest.fileName]
        where !manager.fileExists(atPath: directory.appendingPathComponent(file).path) {
            throw ExportError.missingClassifierFile(directory: directory.path, file: file)
        }
        let files = try ModelDirectory(directory)
        let manifest = try ClassifierManifest.read(directory: directory, config: files.config)
        try files.checkInputs(maxLength: manifest.maxLength, hasPairs: false, flag: "lpft.json max_length")
        self.files = files
        tokenizer = files.tokenizer
        model = try files.classifier(classes: manifest.classNames.count)
        let headURL = directory.appendingPathComponent("classifier.safetensors")
        let head = try LinearHead(safetensors: headURL, hidden: files.config.hidden)
        guard head.classes == manifest.classNames.count else {
            throw ExportError.invalidFolder(headURL.path, "the head has \(head.classes) rows but lpft.json lists \(manifest.classNames.count) class names")
        }
        model.setHead(head)
        self.manifest = manifest
        self.directory = directory
    }

    /// Logits (n, C) of `items` in input order on rank 0, nil on the other ranks. A collective call.
    public func logits(of items: [TextInput.Item], comm: Communicator, batchSize: Int,
                       progress: ProgressReporter? = nil, phase: String = "predict") throws -> [Float]? {
        if items.contains(where: { $0.pair != nil }) { try files.checkInputs(maxLength: manifest.maxLength, hasPairs: true) }
        let encodings = items.map { tokenizer.encode($0.text, pair: $0.pair, maxLength: manifest.maxLength) }
        let split = EncodedSplit(name: phase, encodings: encodings, labels: [Int](repeating: 0, count: items.count))
        return try shardedForward(comm: comm, model: model, split: split, batchSize: batchSize, progress: progress,
                                  phase: progress == nil ? nil : phase)?.logits
    }

    /// One prediction per row of `logits`: the argmax class and softmax(logits / temperature).
    public func predictions(logits: [Float], temperature: Double) throws -> [Prediction] {
        let C = manifest.classNames.count
        let scaled = try Logits(logits, classes: C)
        let probabilities = scaled.probabilities(temperature: temperature)
        return zip(0..<scaled.count, scaled.predictions()).map { row, k in
            Prediction(label: manifest.classNames[k], label_id: k,
                       probabilities: Array(probabilities[(row * C)..<((row + 1) * C)]),
                       logits: Array(logits[(row * C)..<((row + 1) * C)]))
        }
    }

    /// The metrics metrics.json has for a set (calibration after the folder's temperature), plus
    /// per-class scores and the confusion matrix, of `examples` whose labels index the model's
    /// classes. On rank 0; nil on the other ranks. A collective call.
    public func evaluate(_ examples: [Example], data: String, comm: Communicator, batchSize: Int,
                         progress: ProgressReporter? = nil) throws -> EvaluationReport? {
        let items = examples.map { TextInput.Item(text: $0.text, pair: $0.textPair) }
        guard let logits = try logits(of: items, comm: comm, batchSize: batchSize, progress: progress, phase: "evaluate") else {
            return nil
        }
        let labels = examples.map(\.label), C = manifest.classNames.count
        let metrics = try SetMetrics(logits: logits, labels: labels, classes: C, temperature: manifest.temperature)
        let confusion = try ClassificationMetrics.confusionMatrix(predicted: try Logits(logits, classes: C).predictions(),
                                                                  labels: labels, classes: C)
        let perClass = zip(manifest.classNames, ClassificationMetrics.perClass(confusion: confusion)).map {
            EvaluationReport.ClassReport(class_name: $0, precision: $1.precision, recall: $1.recall, f1: $1.f1, support: $1.support)
        }
        return EvaluationReport(model: directory.path, data: data, class_names: manifest.classNames, metrics: metrics,
                                per_class: perClass, confusion_matrix: confusion)
    }
}

/// One line of `lpft-mpi predict`'s output.
public struct Prediction: Codable, Sendable, Equatable {
    public var label: String
    public var label_id: Int
    /// softmax(logits / T) (T = 1 with --no-temperature).
    public var probabilities: [Double]
    public var logits: [Float]
}

/// `lpft-mpi evaluate`'s JSON.
public struct EvaluationReport: Codable, Sendable {
    public struct ClassReport: Codable, Sendable {
        public var class_name: String
        public var precision: Double
        public var recall: Double
        public var f1: Double
        public var support: Int
    }

    public var model: String
    public var data: String
    public var class_names: [String]
    /// As metrics.json's entry of a set: accuracy, F1, MCC, ECE/MCE/Brier/NLL before and after
    /// the model's temperature, reliability bins.
    public var metrics: SetMetrics
    public var per_class: [ClassReport]
    /// confusion_matrix[true class][predicted class].
    public var confusion_matrix: [[Int]]
}
