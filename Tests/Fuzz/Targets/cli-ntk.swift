import Distributed
import Foundation
import Model

/// Input: the arguments of `lpft-mpi ntk` (cut at 0x00): refused with a message, or accepted
/// with every setting in its range (the plan divides by the slab width and the chunk size,
/// and sizes buffers from the budget).
func fuzzOneInput(_ bytes: [UInt8]) {
    guard let options = parseOrRefuse(NTKOptions.self, commandLine(bytes[...])) else { return }
    require(options.memoryBudgetBytes > 0, "memory budget \(options.memoryBudgetBytes) from \(options.memoryBudget)")
    require(options.slabWidth.map { $0 >= 1 } ?? true && options.chunkParameters.map { $0 >= 1 } ?? true, "slab width / chunk")
    require(options.subset >= 0 && options.evalSubset >= 0 && options.loraR >= 1, "subset / LoRA rank")
    require(options.loraAlpha.isFinite && options.loraAlpha > 0, "LoRA alpha \(options.loraAlpha)")
    require(options.embeddingSample.map { $0 > 0 && $0 <= 1 } ?? true, "embedding sample")
    require(options.stepSize.map { $0.isFinite && $0 > 0 } ?? true, "step size")
    require(options.classes.map { $0 >= 2 } ?? true && options.maxLength.map { $0 >= 3 } ?? true, "classes / max length")
    require((options.task == nil) != (options.examples == nil), "task and examples")
}
