import Foundation
import XCTest
@testable import Model

/// A tiny random BERT model directory and a small learnable sentiment data set, written into
/// a temporary folder: multi-rank tests run in seconds instead of minutes on the real model.
enum TinyFixtures {
    static let positive = ["good", "great", "fine", "nice", "love", "best", "happy", "excellent"]
    static let negative = ["bad", "awful", "poor", "hate", "worst", "sad", "terrible", "boring"]
    static let filler = ["the", "movie", "film", "was", "is", "a", "very", "it", "plot", "acting", "and", "story"]

    static func temporaryDirectory(_ name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lpft-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// config.json, vocab.txt and model.safetensors of a 2-layer BERT with random weights.
    static func writeModel(to directory: URL, hidden: Int = 16, layers: Int = 2, heads: Int = 2,
                           intermediate: Int = 32, positions: Int = 130, seed: UInt64 = 7) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let letters = (UInt8(ascii: "a")...UInt8(ascii: "z")).map { String(UnicodeScalar($0)) }
        let digits = (0...9).map(String.init)
        let punctuation = [".", ",", "!", "?", "'", "-"]
        let vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + positive + negative + filler
            + letters + letters.map { "##" + $0 } + digits + punctuation
        try vocab.joined(separator: "\n").appending("\n").write(to: directory.appendingPathComponent("vocab.txt"), atomically: true, encoding: .utf8)
        let config: [String: Any] = [
            "model_type": "bert", "hidden_size": hidden, "num_hidden_layers": layers, "num_attention_heads": heads,
            "intermediate_size": intermediate, "vocab_size": vocab.count, "max_position_embeddings": positions,
            "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu", "pad_token_id": 0,
            "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        ]
        try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys])
            .write(to: directory.appendingPathComponent("config.json"))
        let model = SequenceClassifier<Float>(config: try EncoderConfig.load(directory: directory), classes: 2)
        var rng = RandomGenerator(seed: seed)
        let tensors = model.parameters.entries.filter { $0.group == .backbone }.map { e -> (name: String, shape: [Int], values: [Float]) in
            let isGain = e.name.hasSuffix("LayerNorm.weight")
            return (e.name, e.shape, (0..<e.count).map { _ in Float((isGain ? 1 : 0) + 0.2 * rng.nextGaussian()) })
        }
        try SafetensorsWriter.write(tensors, to: directory.appendingPathComponent("model.safetensors"))
    }

    /// A sentence whose label is the sign of (positive − negative) sentiment words.
    static func sentence(_ rng: inout RandomGenerator) -> (text: String, label: Int) {
        let label = rng.uniform(below: 2)
        var words: [String] = []
        for _ in 0..<(3 + rng.uniform(below: 6)) { words.append(filler[rng.uniform(below: filler.count)]) }
        let strong = label == 1 ? positive : negative, weak = label == 1 ? negative : positive
        for _ in 0..<2 { words.insert(strong[rng.uniform(below: strong.count)], at: rng.uniform(below: words.count + 1)) }
        if rng.uniform(below: 3) == 0 { words.insert(weak[rng.uniform(below: weak.count)], at: rng.uniform(below: words.count + 1)) }
        return (words.joined(separator: " ") + (rng.uniform(below: 2) == 0 ? "." : "!"), label)
    }

    /// train.csv, validation.csv and test.csv (header text,label with labels neg/pos).
    static func writeData(to directory: URL, train: Int = 40, validation: Int = 16, test: Int = 16, seed: UInt64 = 3) throws
        -> (train: URL, validation: URL, test: URL) {
        var rng = RandomGenerator(seed: seed)
        func write(_ name: String, _ count: Int) throws -> URL {
            let url = directory.appendingPathComponent(name)
            var lines = ["text,label"]
            for _ in 0..<count { let s = sentence(&rng); lines.append("\"\(s.text)\",\(s.label == 1 ? "pos" : "neg")") }
            try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
            return url
        }
        return (try write("train.csv", train), try write("validation.csv", validation), try write("test.csv", test))
    }

    /// Command-line arguments selecting the tiny model and data.
    static func dataArguments(model: URL, data: (train: URL, validation: URL, test: URL)) -> [String] {
        ["--model", model.path, "--train", data.train.path, "--validation", data.validation.path, "--test", data.test.path]
    }
}

extension XCTestCase {
    /// `lpft-mpi train` on the tiny model and data under mpirun; asserts success and returns
    /// the run directory `work`/`out`.
    func trainTiny(np: Int, method: String, out: String, work: URL, model: URL, data: (train: URL, validation: URL, test: URL),
                   _ extra: [String] = [], timeout: Double = 120, file: StaticString = #filePath, line: UInt = #line) throws -> URL {
        let dir = work.appendingPathComponent(out)
        let r = try MPILauncher.run(np: np, ["train", "--method", method, "--out", dir.path, "--quiet"]
                                        + TinyFixtures.dataArguments(model: model, data: data) + extra, timeout: timeout)
        assertSucceeded(r, "train \(method) np=\(np)", file: file, line: line)
        return dir
    }
}
