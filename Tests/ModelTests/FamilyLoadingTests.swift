import Foundation
import XCTest
@testable import Model

/// Reading each family from a model directory: config.json, the tokenizer factory, GPT-2
/// checkpoint layouts, and LoRA on each family's attention projections.
final class FamilyLoadingTests: XCTestCase {
    private let manager = FileManager.default

    private func temporaryDirectory() throws -> URL {
        let directory = manager.temporaryDirectory.appendingPathComponent("family-test-\(UUID().uuidString)")
        try manager.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    private func writeJSON(_ object: [String: Any], to url: URL) throws {
        try JSONSerialization.data(withJSONObject: object).write(to: url)
    }

    private func readJSON(_ url: URL) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    private func assertModelError(_ expected: ModelError, mentions words: [String], file: StaticString = #filePath,
                                  line: UInt = #line, _ body: () throws -> Void) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            XCTAssertEqual(error as? ModelError, expected, file: file, line: line)
            let message = error.localizedDescription
            for word in words { XCTAssertTrue(message.contains(word), "\"\(message)\" does not mention \(word)", file: file, line: line) }
        }
    }

    // MARK: config.json

    /// Values written in the fixtures' config.json files (copied from ../shared/reference/tiny).
    func testConfigOfEachFamily() throws {
        let gpt2 = try LoaderTestAssets.tinyModelDirectory("tiny-gpt2")
        let roberta = try LoaderTestAssets.tinyModelDirectory("tiny-roberta")
        defer { try? manager.removeItem(at: gpt2); try? manager.removeItem(at: roberta) }
        // n_inner null → 4·n_embd; pad_token_id 1; gelu_new → tanh GELU; embd/resid/attn_pdrop 0.1.
        XCTAssertEqual(try EncoderConfig.load(directory: gpt2),
                       EncoderConfig(family: .gpt2, layers: 2, hidden: 64, heads: 4, intermediate: 256, vocabularySize: 1200,
                                     maxPositions: 64, typeVocabularySize: 0, layerNormEps: 1e-5, hiddenDropout: 0.1,
                                     attentionDropout: 0.1, embeddingDropout: 0.1, activation: .geluTanh, padTokenId: 1))
        let robertaConfig = try EncoderConfig.load(directory: roberta)
        XCTAssertEqual(robertaConfig,
                       EncoderConfig(family: .roberta, layers: 2, hidden: 64, heads: 4, intermediate: 128, vocabularySize: 1200,
                                     maxPositions: 66, typeVocabularySize: 1, layerNormEps: 1e-12, hiddenDropout: 0.1,
                                     attentionDropout: 0.1, embeddingDropout: 0.1, activation: .gelu, padTokenId: 1))
        XCTAssertEqual(robertaConfig.maxSequenceLength, 64, "positions 0 and 1 belong to padding_idx")
        XCTAssertEqual(try EncoderConfig.load(directory: LoaderTestAssets.miniLMDirectory()), .miniLM)

        // Distinct dropouts land in their fields; without pad_token_id GPT-2 pads with eos.
        let url = gpt2.appendingPathComponent("config.json")
        var json = try readJSON(url)
        json["embd_pdrop"] = 0.3; json["resid_pdrop"] = 0.2; json["attn_pdrop"] = 0.05
        json["pad_token_id"] = NSNull(); json["eos_token_id"] = 2
        try writeJSON(json, to: url)
        let edited = try EncoderConfig.load(directory: gpt2)
        XCTAssertEqual([edited.embeddingDropout, edited.hiddenDropout, edited.attentionDropout], [0.3, 0.2, 0.05])
        XCTAssertEqual(edited.padTokenId, 2)
    }

    func testConfigErrorsNameTheFileAndTheProblem() throws {
        let directory = try temporaryDirectory()
        defer { try? manager.removeItem(at: directory) }
        let path = directory.appendingPathComponent("config.json").path
        assertModelError(.missingFile(path, hint: "a model directory needs config.json, model.safetensors and its tokenizer files"),
                         mentions: [path]) { _ = try EncoderConfig.load(directory: directory) }

        try writeJSON(["model_type": "t5", "d_model": 8], to: URL(fileURLWithPath: path))
        assertModelError(.unsupportedFamily(path, "t5"), mentions: [path, "t5", "gpt2"]) { _ = try EncoderConfig.load(directory: directory) }
        assertModelError(.unsupportedFamily(path, "t5"), mentions: [path]) { _ = try ModelFamily(directory: directory) }
        assertModelError(.unsupportedFamily(path, "t5"), mentions: [path]) { _ = try loadTokenizer(directory: directory) }

        try writeJSON(["n_embd": 8], to: URL(fileURLWithPath: path))
        assertModelError(.invalidConfig(path, "missing \"model_type\" (expected bert, roberta or gpt2)"), mentions: [path, "model_type"]) {
            _ = try ModelFamily(directory: directory)
        }

        var gpt2 = try readJSON(LoaderTestAssets.fixture("config", "json", subdirectory: "safetensors/tiny-gpt2"))
        gpt2["scale_attn_by_inverse_layer_idx"] = true
        try writeJSON(gpt2, to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try EncoderConfig.load(directory: directory)) { error in
            guard case .invalidConfig(let file, let what)? = error as? ModelError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, path)
            XCTAssertTrue(what.contains("scale_attn_by_inverse_layer_idx"), what)
        }
    }

    // MARK: Tokenizer factory

    func testTokenizerFactoryPicksTheFamilysTokenizer() throws {
        XCTAssertTrue(try loadTokenizer(directory: LoaderTestAssets.miniLMDirectory()) is WordPieceTokenizer)
        for (name, family) in [("tiny-roberta", BytePairTokenizer.Family.roberta), ("tiny-gpt2", .gpt2)] {
            let directory = try LoaderTestAssets.tinyModelDirectory(name)
            defer { try? manager.removeItem(at: directory) }
            let tokenizer = try XCTUnwrap(try loadTokenizer(directory: directory) as? BytePairTokenizer, name)
            XCTAssertEqual(tokenizer.family, family)
        }
        XCTAssertEqual(ModelFamily.bert.defaultPooling, .cls)
        XCTAssertEqual(ModelFamily.roberta.defaultPooling, .cls)
        XCTAssertEqual(ModelFamily.gpt2.defaultPooling, .last)
    }

    func testTokenizerFactoryNamesTheMissingFile() throws {
        let gpt2 = try LoaderTestAssets.tinyModelDirectory("tiny-gpt2")
        defer { try? manager.removeItem(at: gpt2) }
        try manager.removeItem(at: gpt2.appendingPathComponent("merges.txt"))
        XCTAssertThrowsError(try loadTokenizer(directory: gpt2)) { error in
            XCTAssertEqual(error as? BytePairTokenizerError, .missingFile(name: "merges.txt", directory: gpt2.path))
            XCTAssertTrue(error.localizedDescription.contains(gpt2.path), error.localizedDescription)
        }

        // A BERT directory without vocab.txt.
        let bert = try temporaryDirectory()
        defer { try? manager.removeItem(at: bert) }
        try manager.copyItem(at: LoaderTestAssets.miniLMDirectory().appendingPathComponent("config.json"),
                             to: bert.appendingPathComponent("config.json"))
        let vocabulary = bert.appendingPathComponent("vocab.txt")
        XCTAssertThrowsError(try loadTokenizer(directory: bert)) { error in
            XCTAssertEqual(error as? WordPieceTokenizerError, .vocabularyMissing(vocabulary))
            XCTAssertTrue(error.localizedDescription.contains(vocabulary.path), error.localizedDescription)
        }
    }

    // MARK: GPT-2 checkpoints

    /// The tiny GPT-2's tensors (float64) with `rename` applied to each name.
    private func gpt2Tensors(rename: (String) -> String = { $0 }) throws -> [SafetensorsWriter.Tensor] {
        let file = try SafetensorsFile(url: LoaderTestAssets.fixture("model", "safetensors", subdirectory: "safetensors/tiny-gpt2"))
        return try file.tensorNames.map { name in
            SafetensorsWriter.Tensor(name: rename(name), shape: try XCTUnwrap(file.info(name)).shape, values: .float64(try file.doubles(name)))
        }
    }

    private func gpt2Directory(_ tensors: [SafetensorsWriter.Tensor]) throws -> URL {
        let directory = try temporaryDirectory()
        try manager.copyItem(at: LoaderTestAssets.fixture("config", "json", subdirectory: "safetensors/tiny-gpt2"),
                             to: directory.appendingPathComponent("config.json"))
        try SafetensorsWriter.write(tensors, to: directory.appendingPathComponent("model.safetensors"))
        return directory
    }

    /// A GPT2ForSequenceClassification-style checkpoint ("transformer." prefix, the old causal-mask
    /// buffers, a score head) loads to the same model.
    func testGPT2CheckpointWithTransformerPrefix() throws {
        let plain = try LoaderTestAssets.tinyModelDirectory("tiny-gpt2")
        var prefixed = try gpt2Tensors { "transformer." + $0 }
        prefixed.append(.init(name: "transformer.h.0.attn.bias", shape: [1, 1, 2, 2], values: .float64([1, 0, 1, 1])))
        prefixed.append(.init(name: "score.weight", shape: [2, 64], values: .float64([Double](repeating: 0.5, count: 128))))
        let directory = try gpt2Directory(prefixed)
        defer { try? manager.removeItem(at: plain); try? manager.removeItem(at: directory) }
        let reference = try SequenceClassifier<Double>.pretrained(directory: plain, classes: 2)
        let model = try SequenceClassifier<Double>.pretrained(directory: directory, classes: 2)
        let backbone = reference.parameters.range(of: [.backbone])
        XCTAssertEqual(Array(model.parameters.values[backbone]), Array(reference.parameters.values[backbone]))
    }

    /// Conv1D weights must be [in, out] as Hugging Face stores them; a file in our (out, in)
    /// orientation is rejected with the tensor named.
    func testGPT2WeightInLinearOrientationIsRejected() throws {
        var tensors = try gpt2Tensors()
        let index = try XCTUnwrap(tensors.firstIndex { $0.name == "h.1.mlp.c_fc.weight" })
        tensors[index].shape = [256, 64]
        let directory = try gpt2Directory(tensors)
        defer { try? manager.removeItem(at: directory) }
        let file = directory.appendingPathComponent("model.safetensors").path
        for load in [{ _ = try SequenceClassifier<Double>.pretrained(directory: directory, classes: 2) },
                     { _ = try SequenceClassifier<Float>.pretrained(directory: directory, classes: 2) }] {
            assertModelError(.shapeMismatch(file: file, tensor: "h.1.mlp.c_fc.weight", expected: [64, 256], found: [256, 64]),
                             mentions: ["h.1.mlp.c_fc.weight", "[64, 256]"], load)
        }
        tensors.remove(at: index)
        let incomplete = try gpt2Directory(tensors)
        defer { try? manager.removeItem(at: incomplete) }
        assertModelError(.missingTensor(file: incomplete.appendingPathComponent("model.safetensors").path, tensor: "h.1.mlp.c_fc.weight"),
                         mentions: ["h.1.mlp.c_fc.weight"]) { _ = try SequenceClassifier<Float>.pretrained(directory: incomplete, classes: 2) }
    }

    // MARK: LoRA

    /// LoRA on query and value equals merging s·B·A into the projection's query and value
    /// parts (GPT-2: rows 0..<H and 2H..<3H of the fused c_attn; RoBERTa: query and value), and
    /// with B = 0 (its initialisation) the model is the pretrained one.
    func testLoRAEqualsMergedQueryAndValueWeights() throws {
        for (name, family) in [("tiny-gpt2", ModelFamily.gpt2), ("tiny-roberta", .roberta)] {
            let directory = try LoaderTestAssets.tinyModelDirectory(name)
            defer { try? manager.removeItem(at: directory) }
            let lora = LoRAConfig(rank: 2, alpha: 6, targets: [.query, .value])
            let adapted = try SequenceClassifier<Double>.pretrained(directory: directory, classes: 2, lora: lora, seed: 5)
            let merged = try SequenceClassifier<Double>.pretrained(directory: directory, classes: 2, seed: 5)
            let config = adapted.config, H = config.hidden
            let batch = TokenBatch([Encoding(ids: [5, 40, 300, 77, 12], typeIds: [0, 0, 0, 0, 0]),
                                    Encoding(ids: [9, 600, 31], typeIds: [0, 0, 0])], config: config)
            merged.forward(batch)
            let pretrained = Array(merged.features)
            adapted.forward(batch)
            XCTAssertEqual(Array(adapted.features), pretrained, "\(family): LoRA with B = 0 changed the model")

            var rng = RandomGenerator(seed: 8)
            for e in adapted.parameters.entries where e.name.hasSuffix("lora_B") {
                let b = adapted.parameters.values.baseAddress! + e.offset
                for i in 0..<e.count { b[i] = 0.3 * rng.nextGaussian() }
            }
            for l in 0..<config.layers {
                for target in lora.targets {
                    let prefix = family == .gpt2 ? "h.\(l).attn.c_attn.\(target.rawValue)." : "encoder.layer.\(l).attention.self.\(target.rawValue)."
                    let a = adapted.parameters.value(prefix + "lora_A"), b = adapted.parameters.value(prefix + "lora_B")
                    // GPT-2: the target's row block of the fused (3H, H) c_attn; RoBERTa: its own (H, H).
                    let w = family == .gpt2
                        ? merged.parameters.value("h.\(l).attn.c_attn.weight") + (target == .query ? 0 : 2 * H * H)
                        : merged.parameters.value("encoder.layer.\(l).attention.self.\(target.rawValue).weight")
                    for o in 0..<H {
                        for i in 0..<H {
                            var sum = 0.0
                            for r in 0..<lora.rank { sum += b[o * lora.rank + r] * a[r * H + i] }
                            w[o * H + i] += lora.scaling * sum
                        }
                    }
                }
            }
            adapted.forward(batch)
            merged.forward(batch)
            let difference = zip(Array(adapted.features), pretrained).map { abs($0 - $1) }.max() ?? 0
            XCTAssertGreaterThan(difference, 1e-3, "\(family): LoRA had no effect")
            assertClose(Array(adapted.features), Array(merged.features), rtol: 1e-10, atol: 1e-12, "\(family): LoRA vs merged weights")
            // The library's merge gives the same weights as the hand-written one above.
            let libraryMerged = adapted.mergedLoRA()
            XCTAssertNil(libraryMerged.lora)
            for e in merged.parameters.entries where e.group == .backbone {
                assertClose(Array(libraryMerged.parameters.values[e.range]), Array(merged.parameters.values[e.range]),
                            rtol: 1e-12, atol: 1e-14, "\(family): mergedLoRA \(e.name)")
            }
            libraryMerged.forward(batch)
            assertClose(Array(libraryMerged.features), Array(adapted.features), rtol: 1e-10, atol: 1e-12, "\(family): mergedLoRA features")
        }
    }
}
