import Foundation
import Model

/// What `train` leaves for use after the run (rank 0): OUT/logits/<set>.npy and, unless
/// --save-model none, OUT/model (and OUT/adapter for LoRA methods).
extension Trainer {
    /// OUT/logits/<set>.npy: the final model's logits of every evaluation set, (n, C) in split
    /// order. Float64 holding the float32 logits exactly (NumpyFile writes float64 only; numpy and
    /// `Float(x)` recover the run's values bit for bit).
    func saveLogits(_ sets: [(set: String, values: [Float])]) throws {
        let folder = output.appendingPathComponent("logits")
        for (set, values) in sets {
            try NumpyFile.write(values.map(Double.init), shape: [values.count / model.classes, model.classes],
                                to: folder.appendingPathComponent("\(set).npy"))  // OOD names are file-name safe
        }
    }

    /// OUT/model (and OUT/adapter) of the final model.
    func saveModel(temperature: Double, bestEpoch: Int?) throws {
        let manifest = config.classifierManifest(feature: model.config.family.defaultPooling, temperature: temperature,
                                                 fittedOn: "validation", parameters: config.finalParameters(bestEpoch: bestEpoch))
        try HuggingFaceExport.writeRunFolders(model, base: URL(fileURLWithPath: config.modelDirectory), manifest: manifest,
                                              into: output)
    }
}

extension TrainingConfig {
    /// lpft.json of a model trained with these settings.
    func classifierManifest(feature: Pooling, temperature: Double, fittedOn: String?, parameters: String) -> ClassifierManifest {
        ClassifierManifest(method: method.rawValue, feature: feature, classNames: classNames, temperature: temperature,
                           temperatureFittedOn: fittedOn, maxLength: maxLength,
                           runID: URL(fileURLWithPath: outputDirectory).standardizedFileURL.lastPathComponent,
                           gitCommit: gitCommit, baseModel: modelDirectory, parameters: parameters, lora: loraConfig)
    }

    /// How lpft.json names the final model's parameters.
    func finalParameters(bestEpoch: Int?) -> String {
        guard method.hasTrainingStage else { return "final model (linear probe; encoder unchanged)" }
        return "final model (best epoch \(bestEpoch.map(String.init) ?? "?") of \(epochs) by validation accuracy)"
    }
}
