import Foundation
import XCTest
@testable import Model

/// Exported Hugging Face folders (Export/): model.safetensors mirrors the input file, trained
/// values land in place, LoRA merges exactly, and the PEFT adapter has PEFT's names.
final class ExportTests: XCTestCase {
    private let manager = FileManager.default
    private var cleanup: [URL] = []

    override func tearDown() {
        for url in cleanup { try? manager.removeItem(at: url) }
        cleanup = []
    }

    private func temporaryDirectory() throws -> URL {
        let url = manager.temporaryDirectory.appendingPathComponent("export-test-\(UUID().uuidString)")
        try manager.createDirectory(at: url, withIntermediateDirectories: true)
        cleanup.append(url)
        return url
    }

    private func tinyModel(_ name: String) throws -> URL {
        let url = try LoaderTestAssets.tinyModelDirectory(name)
        cleanup.append(url)
        return url
    }

    private func manifest(_ model: SequenceClassifier<Float>, base: URL) -> ClassifierManifest {
        ClassifierManifest(method: model.lora == nil ? "ft" : "lora", feature: model.config.family.defaultPooling,
                           classNames: (0..<model.classes).map { "class\($0)" }, temperature: 1.5, temperatureFittedOn: "validation",
                           maxLength: 16, runID: "test-run", gitCommit: "test", baseModel: base.path, parameters: "test", lora: model.lora)
    }

    /// Moves every backbone value a little (as training would) so that export must write ours.
    private func perturbBackbone(_ model: SequenceClassifier<Float>, seed: UInt64) {
        var rng = RandomGenerator(seed: seed)
        for entry in model.parameters.entries where entry.group == .backbone {
            for i in entry.range { model.parameters.values[i] += Float(0.01 * rng.nextGaussian()) }
        }
    }

    private func header(_ file: SafetensorsFile) -> [String: String] {
        Dictionary(uniqueKeysWithValues: file.tensorNames.map { name in
            let info = file.info(name)!
            return (name, "\(info.dtype.rawValue) \(info.shape)")
        })
    }

    // MARK: model.safetensors mirrors the input

    /// MiniLM (BERT, with int64 position_ids and a pooler we do not load), tiny RoBERTa and tiny
    /// GPT-2 (Conv1D weights stored [in, out]): the export has the input file's names, dtypes,
    /// shapes and order; untouched tensors byte for byte; trained values read back exactly.
    func testExportedWeightsMirrorTheInputFile() throws {
        for base in [try LoaderTestAssets.miniLMDirectory(), try tinyModel("tiny-roberta"), try tinyModel("tiny-gpt2")] {
            let model = try SequenceClassifier<Float>.pretrained(directory: base, classes: 3, seed: 4)
            perturbBackbone(model, seed: 9)
            let out = try temporaryDirectory().appendingPathComponent("model")
            try HuggingFaceExport.writeClassifierFolder(model, base: base, manifest: manifest(model, base: base), to: out)

            let input = try SafetensorsFile(url: base.appendingPathComponent("model.safetensors"))
            let exported = try SafetensorsFile(url: out.appendingPathComponent("model.safetensors"))
            XCTAssertEqual(exported.tensorNames, input.tensorNames, base.lastPathComponent)
            XCTAssertEqual(header(exported), header(input), base.lastPathComponent)
            XCTAssertEqual(exported.metadata["format"], "pt")
            let loaded = Set(model.parameters.entries.filter { $0.group == .backbone }.map(\.name))
            let untouched = input.tensorNames.filter { !loaded.contains($0) }
            for name in untouched { XCTAssertEqual(try exported.rawBytes(name), try input.rawBytes(name), name) }
            if base.lastPathComponent == "all-MiniLM-L6-v2" {
                XCTAssertEqual(Set(untouched), ["embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias"])
            }
            // Reading the export back gives the trained arena bit for bit (transposition undone).
            let reloaded = try SequenceClassifier<Float>.pretrained(directory: out, classes: 3)
            for entry in model.parameters.entries where entry.group == .backbone {
                XCTAssertEqual(Array(reloaded.parameters.values[entry.range]), Array(model.parameters.values[entry.range]), entry.name)
            }
            for name in ["config.json"] + HuggingFaceExport.tokenizerFiles
            where manager.fileExists(atPath: base.appendingPathComponent(name).path) {
                XCTAssertEqual(try Data(contentsOf: out.appendingPathComponent(name)),
                               try Data(contentsOf: base.appendingPathComponent(name)), name)
            }
            let head = try SafetensorsFile(url: out.appendingPathComponent("classifier.safetensors"))
            XCTAssertEqual(try head.floats("weight"), Array(model.parameters.values[model.parameters.entry("classifier.weight")!.range]))
            XCTAssertEqual(head.info("bias")?.shape, [3])
            let written = try ClassifierManifest.read(directory: out, config: model.config)
            XCTAssertEqual(written, manifest(model, base: base))
            let readme = try String(contentsOf: out.appendingPathComponent("README.md"), encoding: .utf8)
            XCTAssertTrue(readme.contains("AutoModel.from_pretrained(folder)") && readme.contains("meta[\"temperature\"]"), readme)
        }
    }

    /// An input stored in half precision keeps its dtypes: trained tensors are rounded to F16 /
    /// BF16 (ties to even), untouched ones of any dtype (I64, BF16, F16) are copied as stored.
    func testHalfPrecisionInputsKeepTheirDtypes() throws {
        let base = try tinyModel("tiny-gpt2")
        let weights = base.appendingPathComponent("model.safetensors")
        let original = try SafetensorsFile(url: weights)
        var tensors: [SafetensorsWriter.Tensor] = try original.tensorNames.enumerated().map { index, name in
            let values = try original.floats(name)
            let dtype: SafetensorsDType = index % 3 == 0 ? .float16 : index % 3 == 1 ? .bfloat16 : .float32
            return .init(name: name, shape: original.info(name)!.shape, values: SafetensorsWriter.Values.encoding(values, as: dtype)!)
        }
        tensors.append(.init(name: "extra.ids", shape: [2, 3], values: .int64([1, -2, 3, 4, 5, Int64.max])))
        tensors.append(.init(name: "extra.half", shape: [3], values: .encoding([0.1, -2.5, 65504], as: .float16)!))
        tensors.append(.init(name: "extra.brain", shape: [2], values: .encoding([1e-3, 3e38], as: .bfloat16)!))
        try SafetensorsWriter.write(tensors, to: weights, metadata: ["format": "pt"])

        let model = try SequenceClassifier<Float>.pretrained(directory: base, classes: 2)
        perturbBackbone(model, seed: 2)
        let out = try temporaryDirectory().appendingPathComponent("model")
        try HuggingFaceExport.writeClassifierFolder(model, base: base, manifest: manifest(model, base: base), to: out)
        let input = try SafetensorsFile(url: weights), exported = try SafetensorsFile(url: out.appendingPathComponent("model.safetensors"))
        XCTAssertEqual(header(exported), header(input))
        for name in ["extra.ids", "extra.half", "extra.brain"] {
            XCTAssertEqual(try exported.rawBytes(name), try input.rawBytes(name), name)
        }
        // A trained F16 tensor holds our values rounded to half precision.
        let wte = model.parameters.entry("wte.weight")!
        XCTAssertEqual(input.info("wte.weight")?.dtype, .float16)
        XCTAssertEqual(try exported.floats("wte.weight"), try SafetensorsFile.decodedHalves(model.parameters.values[wte.range].map(halfBits)))
    }

    /// Float → F16 and → BF16 round to nearest, ties to even, as torch does; every finite half
    /// and a sample of bfloat16 patterns survive decode → encode unchanged.
    func testHalfAndBFloat16Encoding() throws {
        let cases: [(Float, UInt16)] = [(1, 0x3C00), (-2, 0xC000), (65504, 0x7BFF), (65519.99, 0x7BFF), (65520, 0x7C00),
                                        (.infinity, 0x7C00), (0x1p-24, 0x0001), (0x1p-25, 0x0000), (0x1.8p-25, 0x0001),
                                        (0x1p-14, 0x0400), (1 + 0x1p-11, 0x3C00), (1 + 0x1.8p-10, 0x3C02), (-0.0, 0x8000),
                                        (1e-30, 0x0000), (0x1.ffcp-15, 0x0400)]
        for (value, bits) in cases { XCTAssertEqual(halfBits(value), bits, "\(value)") }
        XCTAssertTrue(try SafetensorsFile.decodedHalves([halfBits(.nan)])[0].isNaN)
        let finite = (UInt16.min...UInt16.max).filter { $0 & 0x7C00 != 0x7C00 || $0 & 0x3FF == 0 }  // all but NaNs
        XCTAssertEqual(try SafetensorsFile.decodedHalves(finite).map(halfBits), finite)
        let brain: [(Float, UInt16)] = [(1, 0x3F80), (1 + 0x1p-8, 0x3F80), (1 + 0x1.8p-7, 0x3F82), (-3, 0xC040),
                                        (Float.greatestFiniteMagnitude, 0x7F80), (0x1p-133, 0x0001)]
        for (value, bits) in brain { XCTAssertEqual(bfloat16Bits(value), bits, "\(value)") }
        XCTAssertTrue(Float(bitPattern: UInt32(bfloat16Bits(.nan)) << 16).isNaN)
        for bits in stride(from: UInt16(0), to: 0x7F80, by: 7) { XCTAssertEqual(bfloat16Bits(Float(bitPattern: UInt32(bits) << 16)), bits) }
    }

    // MARK: LoRA

    /// A LoRA model with trained (nonzero) factors: the exported, merged folder computes the
    /// unmerged model's features and logits to 1e-5 (RoBERTa: query/value; GPT-2: fused c_attn).
    func testMergedLoRAExportEqualsTheUnmergedForward() throws {
        for name in ["tiny-roberta", "tiny-gpt2"] {
            let base = try tinyModel(name)
            let lora = LoRAConfig(rank: 4, alpha: 8, targets: [.query, .value])
            let model = try SequenceClassifier<Float>.pretrained(directory: base, classes: 3, lora: lora, seed: 5)
            var rng = RandomGenerator(seed: 8)
            for entry in model.parameters.entries where entry.group == .lora {
                for i in entry.range { model.parameters.values[i] = Float(0.2 * rng.nextGaussian()) }
            }
            let out = try temporaryDirectory()
            try HuggingFaceExport.writeRunFolders(model, base: base, manifest: manifest(model, base: base), into: out)
            XCTAssertTrue(manager.fileExists(atPath: out.appendingPathComponent("adapter/adapter_model.safetensors").path))
            let merged = try SequenceClassifier<Float>.pretrained(directory: out.appendingPathComponent("model"), classes: 3)
            let head = try SafetensorsFile(url: out.appendingPathComponent("model/classifier.safetensors"))
            merged.setHead(LinearHead(classes: 3, dimension: model.config.hidden, weight: try head.doubles("weight"),
                                      bias: try head.doubles("bias")))
            let batch = TestSupport.tinyBatch(model.config, lengths: [9, 4, 12, 6])
            model.forward(batch)
            merged.forward(batch)
            assertClose(Array(merged.features).map(Double.init), Array(model.features).map(Double.init), rtol: 0, atol: 1e-5, "\(name) features")
            assertClose(Array(merged.logits).map(Double.init), Array(model.logits).map(Double.init), rtol: 0, atol: 1e-5, "\(name) logits")
            // The adapter did change the function (the comparison is not between base models).
            let plain = try SequenceClassifier<Float>.pretrained(directory: base, classes: 3)
            plain.forward(batch)
            XCTAssertGreaterThan(zip(plain.features, model.features).map { abs($0 - $1) }.max()!, 1e-3)
        }
    }

    /// The adapter's tensor names and shapes are those real PEFT saves for the same LoRA
    /// (Fixtures/peft/peft-names.json, made by make_peft_names.py), and adapter_config.json
    /// uses only keys PEFT writes.
    func testPEFTAdapterNamesMatchPEFT() throws {
        let fixture = try JSONSerialization.jsonObject(with: Data(contentsOf: LoaderTestAssets.fixture("peft-names", "json", subdirectory: "peft")))
            as! [String: Any]
        for name in ["tiny-roberta", "tiny-gpt2"] {
            let expected = fixture[name] as! [String: Any]
            let model = try SequenceClassifier<Float>.pretrained(directory: try tinyModel(name), classes: 2,
                                                                 lora: LoRAConfig(rank: 8, alpha: 8, targets: [.query, .value]))
            let adapter = try PEFTAdapter(model: model, baseModel: "base")
            let shapes = Dictionary(uniqueKeysWithValues: adapter.tensors.map { ($0.name, $0.shape) })
            XCTAssertEqual(shapes, expected["tensors"] as! [String: [Int]], name)
            let configuration = adapter.configuration
            XCTAssertTrue(Set(configuration.keys).isSubset(of: expected["adapter_config_keys"] as! [String]),
                          "\(name): \(Set(configuration.keys).subtracting(expected["adapter_config_keys"] as! [String]))")
            let lora = expected["lora"] as! [String: Any]
            XCTAssertEqual(configuration["r"] as? Int, lora["r"] as? Int, name)
            XCTAssertEqual(configuration["lora_alpha"] as? Int, lora["lora_alpha"] as? Int, name)
            XCTAssertEqual(configuration["target_modules"] as? [String], lora["target_modules"] as? [String], name)
            XCTAssertEqual(configuration["fan_in_fan_out"] as? Bool, (lora["fan_in_fan_out"] as? Bool) ?? false, name)
        }
    }

    /// PEFT adds (lora_alpha / r)·B'·A' to a module: for GPT-2's fused c_attn that must be our
    /// s·B·A in the query and value rows and zero in the key rows.
    func testPEFTAdapterOfFusedAttentionComputesOurDelta() throws {
        let base = try tinyModel("tiny-gpt2")
        let lora = LoRAConfig(rank: 3, alpha: 6, targets: [.query, .value])
        let model = try SequenceClassifier<Float>.pretrained(directory: base, classes: 2, lora: lora)
        var rng = RandomGenerator(seed: 3)
        for entry in model.parameters.entries where entry.group == .lora {
            for i in entry.range { model.parameters.values[i] = Float(rng.nextGaussian()) }
        }
        let adapter = try PEFTAdapter(model: model, baseModel: "base")
        let H = model.config.hidden, rank = adapter.rank, scaling = adapter.alpha / Double(rank)
        XCTAssertEqual(rank, 6)
        XCTAssertEqual(scaling, lora.scaling)
        func values(_ name: String) -> [Float] {
            guard case .float32(let v) = adapter.tensors.first(where: { $0.name == name })!.values else { return [] }
            return v
        }
        let merged = model.mergedLoRA()
        let plain = try SequenceClassifier<Float>.pretrained(directory: base, classes: 2)
        for l in 0..<model.config.layers {
            let a = values("base_model.model.h.\(l).attn.c_attn.lora_A.weight"), b = values("base_model.model.h.\(l).attn.c_attn.lora_B.weight")
            let w = merged.parameters.entry("h.\(l).attn.c_attn.weight")!  // (3H, H) in our layout
            for o in 0..<(3 * H) {
                for i in 0..<H {
                    var delta = 0.0
                    for j in 0..<rank { delta += Double(b[o * rank + j]) * Double(a[j * H + i]) }
                    let ours = Double(merged.parameters.values[w.offset + o * H + i]) - Double(plain.parameters.values[w.offset + o * H + i])
                    XCTAssertEqual(scaling * delta, ours, accuracy: 1e-4, "layer \(l) row \(o) column \(i)")
                    if o >= H && o < 2 * H { XCTAssertEqual(delta, 0, "key rows stay unadapted") }
                }
            }
        }
    }
}

extension SafetensorsFile {
    /// Half-precision bit patterns decoded by the reader (an F16 tensor in a file).
    static func decodedHalves(_ bits: [UInt16]) throws -> [Float] {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("half-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        let bytes = bits.map(\.littleEndian).withUnsafeBytes { Data($0) }
        try SafetensorsWriter.write([.init(name: "x", shape: [bits.count], values: .raw(.float16, bytes))], to: url)
        return try SafetensorsFile(url: url).floats("x")
    }
}
