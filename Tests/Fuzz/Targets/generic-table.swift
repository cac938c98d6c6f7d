import Foundation
import Model

/// Input: byte 0 picks the file type (.csv, .tsv, .jsonl) and whether a text-pair column is
/// read; the rest is the training file, also used as the test file. The class list is inferred
/// from the labels, so every example's label must index it.
func fuzzOneInput(_ bytes: [UInt8]) {
    guard let first = bytes.first else { return }
    let fileExtension = ["csv", "tsv", "jsonl"][Int(first) % 3]
    let spec = GenericTableSpec(textColumn: "text", textPairColumn: first & 4 != 0 ? "pair" : nil, labelColumn: "label")
    let url = scratchFile("input.\(fileExtension)", bytes.dropFirst())
    guard let task = try? TaskData.loadGeneric(name: "fuzz", train: url, test: url, spec: spec) else { return }
    for example in task.train + task.validation + task.test {
        precondition(task.classNames.indices.contains(example.label))
    }
}
