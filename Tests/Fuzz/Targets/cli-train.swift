import Distributed
import Foundation
import Model

/// Input: the arguments of `lpft-mpi train` (cut at 0x00). Whatever the flags — integer limits,
/// NaN and infinities, empty and huge strings — parsing either refuses them with a message or
/// accepts settings that keep every promise of `TrainingConfig.validate`, and the counts derived
/// from them (steps per epoch, epochs × steps) never overflow at any number of ranks or examples.
func fuzzOneInput(_ bytes: [UInt8]) {
    guard let options = parseOrRefuse(TrainOptions.self, commandLine(bytes[...])) else { return }
    let config = options.config(modelDirectory: "model")
    do { try config.validate(worldSize: nil) } catch { fail("parsing accepted settings that validate refuses: \(error)") }
    typealias Limits = TrainingConfig.Limits
    require((0...Limits.epochs).contains(config.epochs), "epochs \(config.epochs)")
    require((1...Limits.batchSize).contains(config.batchSize), "batch size \(config.batchSize)")
    require(config.learningRate.isFinite && config.learningRate >= 0, "learning rate \(config.learningRate)")
    require(config.weightDecay.isFinite && config.headScale.isFinite && config.headScale > 0, "weight decay / head scale")
    require(config.loraAlpha.isFinite && config.loraAlpha > 0 && config.warmupRatio.isFinite, "LoRA alpha / warm-up")
    require((1...Limits.evalBatchSize).contains(config.evalBatchSize), "eval batch size \(config.evalBatchSize)")
    require(config.dropout.map { $0 >= 0 && $0 < 1 } ?? true, "dropout \(String(describing: config.dropout))")
    _ = try? options.data.classNames()
    for worldSize in [1, 2, 3, 64, 1 << 20] {
        guard (try? config.validate(worldSize: worldSize)) != nil else { continue }
        for examples in [1, 2, 37, 1 << 20, Limits.examples] {
            guard let (perEpoch, total) = try? config.stepCounts(trainExamples: examples, worldSize: worldSize) else { continue }
            require(perEpoch >= 1 && (0...Limits.totalSteps).contains(total), "steps \(perEpoch), \(total)")
        }
    }
}
