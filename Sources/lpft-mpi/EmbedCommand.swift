import ArgumentParser
import Distributed
import Foundation
import Model

struct Embed: RankCommand {
    static let configuration = CommandConfiguration(
        abstract: "Embed texts with the encoder (eval mode); ranks share the inputs, rank 0 prints.",
        discussion: """
            --input: one text per line, or JSONL lines {"text": ..., "text_pair": ...}. \
            Without --pooling the family's classifier feature is used ([CLS]/<s>; last token for GPT-2).
              lpft-mpi embed --input sentences.txt --pooling mean --normalize --json
            """)

    @OptionGroup var job: JobOptions
    @OptionGroup var options: EmbedOptions

    func run(comm: Communicator) throws {
        let o = options
        let files = try ModelDirectory(try o.model.resolve())
        var (items, labels) = try inputs()
        if let first = o.first { items = Array(items.prefix(first)); labels = labels.map { Array($0.prefix(first)) } }
        let maxLength = o.maxLength ?? files.config.defaultMaxLength
        try files.checkInputs(maxLength: maxLength, hasPairs: items.contains { $0.pair != nil })
        let classifier: SequenceClassifier<Float> = try files.classifier(classes: 2)
        let pooling = o.pooling ?? classifier.config.family.defaultPooling
        let needsAllTokens = pooling != classifier.config.family.defaultPooling
        let H = classifier.config.hidden
        // The evaluation pass of train, predict and evaluate: length-sorted batches shared by the ranks.
        let encodings = items.map { files.tokenizer.encode($0.text, pair: $0.pair, maxLength: maxLength) }
        guard let all = try shardedEval(comm: comm, model: classifier, encodings: encodings, batchSize: o.evalBatchSize,
                                        allTokens: needsAllTokens, width: H, rows: { $0.pooled(pooling, normalize: o.normalize) })
        else { return }
        let rows = stride(from: 0, to: all.count, by: H).map { Array(all[$0..<($0 + H)]) }
        if o.json {
            struct Output: Encodable { var embeddings: [[Float]]; var labels: [Int]? }
            try printJSON(Output(embeddings: rows, labels: labels))
        } else {
            for row in rows { print(row.map { String($0) }.joined(separator: " ")) }
        }
    }

    /// The texts (and, for a task split, the labels) to embed.
    func inputs() throws -> (items: [TextInput.Item], labels: [Int]?) {
        if let input = options.input { return (try TextInput.read(URL(fileURLWithPath: input)), nil) }
        let examples = try loadBuiltinTask(options.task!).examples(ofSplit: options.split)
        return (examples.map { TextInput.Item(text: $0.text, pair: $0.textPair) }, examples.map(\.label))
    }
}

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Token ids of texts as the model's tokenizer gives them (with special tokens).",
        discussion: "--input as for embed. Prints {\"input_ids\": [[...]], \"token_type_ids\": [[...]]} with --json, else one line of ids per text.")

    @OptionGroup var options: TokenizeOptions

    func run() throws {
        let files = try ModelDirectory(try options.model.resolve())
        let items = try TextInput.read(URL(fileURLWithPath: options.input))
        let maxLength = options.maxLength ?? files.config.defaultMaxLength
        try files.checkInputs(maxLength: maxLength, hasPairs: items.contains { $0.pair != nil })
        let encodings = items.map { files.tokenizer.encode($0.text, pair: $0.pair, maxLength: maxLength) }
        if options.json {
            struct Output: Encodable { var input_ids: [[Int32]]; var token_type_ids: [[Int32]] }
            try printJSON(Output(input_ids: encodings.map(\.ids), token_type_ids: encodings.map(\.typeIds)))
        } else {
            for e in encodings { print(e.ids.map(String.init).joined(separator: " ")) }
        }
    }
}
