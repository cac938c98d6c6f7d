import Foundation
import Model

/// `lpft-mpi export RUNDIR [--checkpoint epoch-K] --out DIR`: the folders `train` writes
/// (DIR/model, and DIR/adapter for LoRA methods) rebuilt from a run directory — for runs made
/// before train wrote them, with --save-model none, or at an intermediate checkpoint.
///
/// The run's config.json gives the base model, the method, the LoRA settings, the seed, the
/// classes and max_length; the model is built as train built it (base weights, head and LoRA
/// initialised from the seed), then the trained parameters are put back:
/// - final model (no --checkpoint; the run must be complete, metrics.json giving the fitted
///   temperature): LP — head.safetensors; LoRA, LP-LoRA — lora.safetensors (factors and head);
///   FT, LP-FT — the best-epoch block of the last checkpoint, which must be the run's final
///   epoch (the fine-tuned encoder exists nowhere else), checked against head.safetensors.
///   The folders equal the ones train wrote, byte for byte.
/// - --checkpoint epoch-K: that checkpoint's parameters after epoch K (for an interrupted run:
///   train keeps only the last complete checkpoint); temperature 1, not fitted.
public enum RunExport {
    /// Exports the run at `run` into `output` (output/model, output/adapter); returns lpft.json.
    @discardableResult
    public static func export(run: URL, checkpoint: String? = nil, into output: URL) throws -> ClassifierManifest {
        let config = try configuration(of: run)
        let base = URL(fileURLWithPath: config.modelDirectory)
        let model: SequenceClassifier<Float> = try ModelDirectory(base).classifier(classes: config.classNames.count,
                                                                                   lora: config.loraConfig, seed: config.seed)
        let feature = model.config.family.defaultPooling
        let manifest: ClassifierManifest
        if let checkpoint {
            let root = run.appendingPathComponent("checkpoints")
            let complete = Trainer.completeCheckpoints(in: root)
            guard complete.contains(checkpoint) else {
                throw ExportError.notExportable("\(run.path) has no complete checkpoint \(checkpoint); complete checkpoints: "
                                                + (complete.isEmpty ? "none" : complete.joined(separator: ", "))
                                                + " (train keeps only the last one; without --checkpoint export takes the final model)")
            }
            let folder = root.appendingPathComponent(checkpoint)
            let saved = try Trainer.readCheckpoint(folder)
            try restore(model, saved, tensor: "values", folder: folder)
            manifest = config.classifierManifest(
                feature: feature, temperature: 1, fittedOn: nil,
                parameters: "checkpoint \(checkpoint) (after \(saved.record.state.completedEpochs) epoch(s); temperature not fitted)")
        } else {
            let metricsURL = run.appendingPathComponent("metrics.json")
            guard let data = FileManager.default.contents(atPath: metricsURL.path),
                  let metrics = try? JSONDecoder().decode(RunMetrics.self, from: data),
                  let temperature = metrics.eval["validation"]?.temperature else {
                throw ExportError.notExportable("\(run.path) has no readable metrics.json with a validation temperature: the run did not finish. "
                                                + "Export one of its checkpoints with --checkpoint epoch-K, or finish it with `train ... --resume`")
            }
            try restoreFinalParameters(of: model, config: config, run: run)
            manifest = config.classifierManifest(feature: feature, temperature: temperature, fittedOn: "validation",
                                                 parameters: config.finalParameters(bestEpoch: metrics.best_epoch))
        }
        try HuggingFaceExport.writeRunFolders(model, base: base, manifest: manifest, into: output)
        return manifest
    }

    /// The run's config.json (the resolved settings train wrote).
    static func configuration(of run: URL) throws -> TrainingConfig {
        let url = run.appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ExportError.notExportable("\(url.path) not found: RUNDIR must be a directory `lpft-mpi train --out` wrote")
        }
        let config: TrainingConfig
        do {
            config = try JSONDecoder().decode(TrainingConfig.self, from: data)
        } catch {
            throw ExportError.invalidFolder(url.path, "not a train configuration (\(error)); RUNDIR must be a directory `lpft-mpi train --out` wrote")
        }
        guard config.classNames.count >= 2 else {
            throw ExportError.invalidFolder(url.path, "classNames lists \(config.classNames.count) class(es); a trained run has at least 2")
        }
        return config
    }

    /// Puts a checkpoint's block `tensor` ("values": after its epoch; "best": the best epoch's)
    /// back into `model`.
    static func restore(_ model: SequenceClassifier<Float>, _ checkpoint: (record: Trainer.CheckpointState, tensors: SafetensorsFile),
                        tensor: String, folder: URL) throws {
        guard let block = checkpoint.record.block else {
            throw ExportError.invalidFolder(folder.appendingPathComponent("state.json").path,
                                            "savedRange \(checkpoint.record.savedRange) is not a range [begin, end]")
        }
        try model.restore(try checkpoint.tensors.floats(tensor), range: block, source: folder.path)
    }

    /// Puts the final (best-epoch) trainable parameters of the run into `model`.
    static func restoreFinalParameters(of model: SequenceClassifier<Float>, config: TrainingConfig, run: URL) throws {
        let headURL = run.appendingPathComponent("head.safetensors")
        let head = try LinearHead(safetensors: headURL, hidden: model.config.hidden)
        guard head.classes == model.classes else {
            throw ExportError.invalidFolder(headURL.path, "the head has \(head.classes) classes but config.json lists \(model.classes)")
        }
        switch config.method {
        case .lp:
            model.setHead(head)
        case .lora, .lpLoRA:
            try model.loadParameters([.lora, .head], from: SafetensorsFile(url: run.appendingPathComponent("lora.safetensors")))
        case .ft, .lpFT:
            let root = run.appendingPathComponent("checkpoints")
            guard let last = Trainer.completeCheckpoints(in: root).last,
                  let checkpoint = Optional(try Trainer.readCheckpoint(root.appendingPathComponent(last))),
                  checkpoint.record.state.completedEpochs == config.epochs, checkpoint.tensors.info("best") != nil else {
                throw ExportError.notExportable(
                    "\(run.path): the fine-tuned encoder of an \(config.method.rawValue) run is kept only in OUT/model (train --save-model final) "
                    + "and in the checkpoint of its last epoch, and this run has neither (sweeps delete checkpoints/ of finished runs unless "
                    + "--keep-checkpoints). Train it again, or export an intermediate checkpoint with --checkpoint epoch-K")
            }
            try restore(model, checkpoint, tensor: "best", folder: root.appendingPathComponent(last))
        }
        let w = model.parameters.entry("classifier.weight")!, b = model.parameters.entry("classifier.bias")!
        let restored = Array(model.parameters.values[w.range]) + Array(model.parameters.values[b.range])
        guard restored == (head.weight + head.bias).map(Float.init) else {
            throw ExportError.invalidFolder(run.path, "the restored head differs from head.safetensors; the run's files do not belong together")
        }
    }
}
