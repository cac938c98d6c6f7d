import Foundation
import Model

extension Trainer {
    /// The eNTK (P, F and P + F, with kernel.json's analysis) of the model as it is now, on a
    /// fixed subset of `config.ntkSubset` (default 100) training examples and as many test examples (the same
    /// examples at every epoch, drawn with seed 0), computed by every rank with the ntk
    /// command's code into OUT/ntk/epoch-`epoch`/. θ is the backbone for FT and LP-FT, the
    /// LoRA factors for LoRA and LP-LoRA; the head is the current one. A snapshot already on
    /// disk (a resumed run) is kept; `lpft-mpi report` follows the kernel from epoch 0 on.
    func kernelSnapshot(epoch: Int) throws {
        guard let snapshots = config.ntkSnapshots, epoch == 0 || snapshots == .everyEpoch else { return }
        let directory = output.appendingPathComponent("ntk/epoch-\(epoch)")
        if FileManager.default.fileExists(atPath: directory.appendingPathComponent("kernel.json").path) { return }
        let start = Date()
        comm.stallContext = "ntk snapshot after epoch \(epoch)"
        let C = task.classNames.count, H = model.config.hidden
        let weight = model.parameters.entry("classifier.weight")!, bias = model.parameters.entry("classifier.bias")!
        let head = LinearHead(classes: C, dimension: H, weight: model.parameters.values[weight.range].map(Double.init),
                              bias: model.parameters.values[bias.range].map(Double.init))
        var settings = NTKSettings(modelDirectory: URL(fileURLWithPath: config.modelDirectory),
                                   train: NTKExamples.subset(task.train, count: config.ntkSubset ?? 100, seed: 0), head: .weights(head))
        settings.eval = NTKExamples.subset(task.test, count: config.ntkSubset ?? 100, seed: 1)
        settings.classes = C
        settings.classNames = task.classNames
        settings.dataDescription = "train \(config.data): \(settings.train.count) training and \(settings.eval.count) test examples (seeds 0, 1), after epoch \(epoch)"
        settings.parameterSet = config.method.usesLoRA ? .lora : .backbone
        settings.lora = config.loraConfig ?? LoRAConfig()
        settings.parameterValues = Array(model.parameters.values)
        settings.maxLength = config.maxLength
        settings.memoryBudgetBytes = 2 << 30
        settings.outputDirectory = directory
        let report = try NTKJob.run(settings, comm: comm)
        timing["ntk", default: 0] += Date().timeIntervalSince(start)
        if let analysis = report?.analysis {
            progress.log(String(format: "eNTK after epoch %d: FT ratio %.4f, ‖P‖_F %.4g, ‖F‖_F %.4g (%@)", epoch, analysis.ftRatio,
                                analysis.pte.frobeniusTrain, analysis.fte.frobeniusTrain, Self.duration(Date().timeIntervalSince(start))))
        }
    }
}
