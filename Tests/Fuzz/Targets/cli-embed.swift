import Distributed
import Foundation
import Model

/// Input: byte 0 even → the arguments of `lpft-mpi embed`, odd → of `lpft-mpi tokenize` (the
/// rest, cut at 0x00): refused with a message, or accepted with counts the commands can use.
func fuzzOneInput(_ bytes: [UInt8]) {
    guard let first = bytes.first else { return }
    let arguments = commandLine(bytes.dropFirst())
    if first & 1 == 0 {
        guard let options = parseOrRefuse(EmbedOptions.self, arguments) else { return }
        require(options.first.map { $0 >= 1 } ?? true, "first \(String(describing: options.first))")
        require(options.evalBatchSize >= 1 && (options.maxLength ?? 3) >= 3, "batch \(options.evalBatchSize), length \(String(describing: options.maxLength))")
        require((options.input == nil) != (options.task == nil), "input and task")
    } else {
        guard let options = parseOrRefuse(TokenizeOptions.self, arguments) else { return }
        require((options.maxLength ?? 3) >= 3 && !options.input.isEmpty, "length \(String(describing: options.maxLength)), input '\(options.input)'")
    }
}
