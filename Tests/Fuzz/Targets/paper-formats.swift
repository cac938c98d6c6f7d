import Foundation
import Model

/// Input: byte 0 picks the format (cb, rte, boolq, wic, sst2, mrpc, cola, boss, pubmed), the
/// rest is the file. Every example's label must index the format's classes.
func fuzzOneInput(_ bytes: [UInt8]) {
    guard let first = bytes.first else { return }
    let format = PaperFormat.allCases[Int(first) % PaperFormat.allCases.count]
    let url = scratchFile("input-\(format.rawValue).txt", bytes.dropFirst())
    guard let examples = try? format.read(url) else { return }
    precondition(!examples.isEmpty && examples.allSatisfy { format.classNames.indices.contains($0.label) })
}
