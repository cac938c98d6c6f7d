import ArgumentParser
import Distributed
import Foundation
import Model

extension Pooling: ExpressibleByArgument {}

struct Embed: RankCommand {
    static let configuration = CommandConfiguration(
        abstract: "Embed texts with the encoder (eval mode); ranks share the inputs, rank 0 prints.",
        discussion: """
            --input: one text per line, or JSONL lines {"text": ..., "text_pair": ...}.
            Without --pooling the family's classifier feature is used ([CLS]/<s>; last token for GPT-2).
              lpft-mpi embed --input sentences.txt --pooling mean --normalize --json
            """)

    @OptionGroup var job: JobOptions
    @OptionGroup var model: ModelOptions
    @Option(help: "Text file (one per line) or JSONL.")
    var input: String?
    @Option(help: "Instead of --input: a built-in task whose --split to embed (labels are printed too).")
    var task: String?
    @Option(help: "Split of --task: train, validation, test or an OOD set's name.")
    var split = "train"
    @Option(help: "Embed only the first N texts.")
    var max: Int?
    @Option(help: "cls, mean or last (default: the family's classifier feature).")
    var pooling: Pooling?
    @Flag(help: "Scale every embedding to unit L2 norm.")
    var normalize = false
    @Option(help: "Maximum tokens per text, special tokens included.")
    var maxLength = 128
    @Option(help: "Texts per forward pass.")
    var batchSize = 32
    @Flag(help: "Print {\"embeddings\": [[...], ...]} instead of one row of numbers per line.")
    var json = false

    func run(comm: Communicator) throws {
        guard maxLength >= 3, batchSize >= 1 else { throw ValidationError("--max-length must be ≥ 3 and --batch-size ≥ 1") }
        let directory = try model.resolve()
        var (items, labels) = try inputs()
        if let max { items = Array(items.prefix(max)); labels = labels.map { Array($0.prefix(max)) } }
        let tokenizer = try loadTokenizer(directory: directory)
        let classifier = try SequenceClassifier<Float>.pretrained(directory: directory, classes: 2)
        let pooling = self.pooling ?? classifier.config.family.defaultPooling
        let needsAllTokens = pooling != classifier.config.family.defaultPooling
        let H = classifier.config.hidden
        // Contiguous block per rank; gathered in order on rank 0.
        let lo = items.count * comm.rank / comm.size, hi = items.count * (comm.rank + 1) / comm.size
        var local: [Float] = []
        local.reserveCapacity((hi - lo) * H)
        var start = lo
        while start < hi {
            let end = min(hi, start + batchSize)
            let encodings = items[start..<end].map { tokenizer.encode($0.text, pair: $0.pair, maxLength: maxLength) }
            let batch = TokenBatch(encodings, config: classifier.config)
            try batch.validate(classifier.config)
            classifier.forward(batch, allTokens: needsAllTokens)
            local += classifier.pooled(pooling, normalize: normalize)
            start = end
        }
        guard let all = try comm.gatherv(local, root: 0) else { return }
        let rows = stride(from: 0, to: all.count, by: H).map { Array(all[$0..<($0 + H)]) }
        if json {
            struct Output: Encodable { var embeddings: [[Float]]; var labels: [Int]? }
            try printJSON(Output(embeddings: rows, labels: labels))
        } else {
            for row in rows { print(row.map { String($0) }.joined(separator: " ")) }
        }
    }
}

extension Embed {
    /// The texts (and, for a task split, the labels) to embed.
    func inputs() throws -> (items: [TextInput.Item], labels: [Int]?) {
        if let input {
            guard task == nil else { throw ValidationError("give --input or --task, not both") }
            return (try TextInput.read(URL(fileURLWithPath: input)), nil)
        }
        guard let task else { throw ValidationError("give --input FILE or --task TASK [--split SPLIT]") }
        let examples = try DataOptions.parse(["--task", task]).load().split(named: split)
        return (examples.map { TextInput.Item(text: $0.text, pair: $0.textPair) }, examples.map(\.label))
    }
}

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Token ids of texts as the model's tokenizer gives them (with special tokens).",
        discussion: "--input as for embed. Prints {\"input_ids\": [[...]], \"token_type_ids\": [[...]]} with --json, else one line of ids per text.")

    @OptionGroup var model: ModelOptions
    @Option(help: "Text file (one per line) or JSONL.")
    var input: String
    @Option(help: "Maximum tokens per text, special tokens included.")
    var maxLength = 128
    @Flag(help: "Print one JSON object.")
    var json = false

    func run() throws {
        guard maxLength >= 3 else { throw ValidationError("--max-length must be at least 3") }
        let tokenizer = try loadTokenizer(directory: try model.resolve())
        let encodings = try TextInput.read(URL(fileURLWithPath: input)).map {
            tokenizer.encode($0.text, pair: $0.pair, maxLength: maxLength)
        }
        if json {
            struct Output: Encodable { var input_ids: [[Int32]]; var token_type_ids: [[Int32]] }
            try printJSON(Output(input_ids: encodings.map(\.ids), token_type_ids: encodings.map(\.typeIds)))
        } else {
            for e in encodings { print(e.ids.map(String.init).joined(separator: " ")) }
        }
    }
}
