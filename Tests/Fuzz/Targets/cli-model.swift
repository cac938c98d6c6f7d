import Distributed
import Foundation
import Model

/// Input: byte 0 mod 3 picks `lpft-mpi predict` (0), `evaluate` (1) or `export` (2); the rest,
/// cut at 0x00, are its arguments: refused with a message, or accepted with settings the
/// commands can use.
func fuzzOneInput(_ bytes: [UInt8]) {
    guard let first = bytes.first else { return }
    let arguments = commandLine(bytes.dropFirst())
    switch first % 3 {
    case 0:
        guard let options = parseOrRefuse(PredictOptions.self, arguments) else { return }
        require((1...TrainingConfig.Limits.evalBatchSize).contains(options.classifier.evalBatchSize), "batch \(options.classifier.evalBatchSize)")
        require(!options.input.isEmpty && !options.classifier.directory.isEmpty, "empty path")
    case 1:
        guard let options = parseOrRefuse(EvaluateOptions.self, arguments) else { return }
        require((options.task == nil) != (options.test == nil), "task and test")
        require(options.maxEval.map { $0 >= 1 } ?? true, "max eval \(String(describing: options.maxEval))")
        require(options.task == nil || options.table.format == nil, "format with a task")
    default:
        guard let options = parseOrRefuse(ExportOptions.self, arguments) else { return }
        require(!options.runDirectory.isEmpty && !options.out.isEmpty, "empty path")
        require(options.checkpoint.map { $0.hasPrefix("epoch-") && Int($0.dropFirst(6)) != nil } ?? true, "checkpoint")
    }
}
