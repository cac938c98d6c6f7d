import Foundation
import XCTest
@testable import Distributed
@testable import Model

/// `lpft-mpi ntk` end to end (launched with mpirun): against brute-force per-example
/// gradients on a tiny random model, across world sizes, against the Hugging Face reference on
/// the real model, and through a kill and resume.
final class NTKTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("ntk-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    // MARK: Fixtures

    /// The shared tiny random BERT at hidden 8: 2136 dense parameters (positions 130 × 8, type
    /// and embedding LayerNorm 32, two layers of 532) besides the word table.
    func writeTinyModel() throws -> URL {
        let directory = folder.appendingPathComponent("tiny-model")
        try TinyFixtures.writeModel(to: directory, hidden: 8, layers: 2, heads: 2, intermediate: 12, seed: 21)
        return directory
    }

    /// Sentences (some pairs) of the tiny vocabulary, labels cycling over `classes`.
    func writeExamples(_ name: String, count: Int, classes: Int, seed: UInt64) throws -> (URL, [Example]) {
        let words = TinyFixtures.positive + TinyFixtures.negative + TinyFixtures.filler + [".", "!", "unseen"]
        var rng = RandomGenerator(seed: seed)
        var examples: [Example] = [], lines: [String] = []
        for i in 0..<count {
            let sentence = { (n: Int) in (0..<n).map { _ in words[rng.uniform(below: words.count)] }.joined(separator: " ") }
            let text = sentence(3 + rng.uniform(below: 6))
            let pair: String? = i % 3 == 1 ? sentence(2 + rng.uniform(below: 3)) : nil
            let example = Example(id: "\(name):\(i + 1)", text: text, textPair: pair, label: (i * 7 + 1) % classes)
            examples.append(example)
            var object: [String: Any] = ["text": text, "label": example.label]
            if let pair { object["text_pair"] = pair }
            lines.append(String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self))
        }
        let url = folder.appendingPathComponent(name)
        try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
        return (url, examples)
    }

    func writeHead(classes: Int, hidden: Int, seed: UInt64) throws -> (URL, LinearHead) {
        var rng = RandomGenerator(seed: seed)
        let head = LinearHead(classes: classes, dimension: hidden,
                              weight: (0..<(classes * hidden)).map { _ in rng.nextGaussian() },
                              bias: (0..<classes).map { _ in 0.1 * rng.nextGaussian() })
        let url = folder.appendingPathComponent("head-\(seed).safetensors")
        try head.writeSafetensors(to: url)
        return (url, head)
    }

    func read(_ out: URL, _ name: String) throws -> [Double] {
        try NumpyFile.read(out.appendingPathComponent(name + ".npy")).values
    }

    func kernelJSON(_ out: URL) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("kernel.json"))) as? [String: Any])
    }

    /// |a − b| ≤ rtol·max|b| for every entry.
    func assertMatrix(_ a: [Double], _ b: [Double], rtol: Double, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, "\(what): size", file: file, line: line)
        let scale = b.map(abs).max() ?? 0
        var worst = 0.0, index = 0
        for i in 0..<min(a.count, b.count) where abs(a[i] - b[i]) > worst { worst = abs(a[i] - b[i]); index = i }
        XCTAssertLessThanOrEqual(worst, rtol * scale, "\(what): entry \(index): \(a.count > index ? a[index] : .nan) vs \(b.count > index ? b[index] : .nan) (scale \(scale))",
                                 file: file, line: line)
    }

    // MARK: Brute force

    /// P and F from the model's ordinary backward: every example's full gradient (dense word
    /// table included) for dφ = V_c, and plain float64 dot products.
    func bruteForce(model directory: URL, train: [Example], eval: [Example], head: LinearHead,
                    lora: LoRAConfig? = nil, seed: UInt64 = 0) throws -> (p: [Double], f: [Double], pEval: [Double], fEval: [Double]) {
        let C = head.classes
        let model = try SequenceClassifier<Double>.pretrained(directory: directory, classes: C, lora: lora, seed: seed)
        let v = model.parameters.value("classifier.weight")
        for i in 0..<head.weight.count { v[i] = head.weight[i] }
        model.trainHead = false
        model.trainBackbone = lora == nil
        model.trainLoRA = lora != nil
        let range = model.parameters.range(of: lora == nil ? [.backbone] : [.lora])
        let tokenizer = try loadTokenizer(directory: directory)
        func rows(_ examples: [Example]) -> (g: [[Double]], phi: [[Double]]) {
            var g: [[Double]] = [], phi: [[Double]] = []
            for e in examples {
                model.forward(TokenBatch([tokenizer.encode(e.text, pair: e.textPair, maxLength: 128)], config: model.config))
                phi.append(Array(model.features))
                for c in 0..<C {
                    model.zeroGradients()
                    model.backward(featureGradient: v + c * model.config.hidden)
                    g.append(Array(model.parameters.gradients[range]))
                }
            }
            return (g, phi)
        }
        let (gt, phit) = rows(train), (ge, phie) = rows(eval)
        func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
        func f(_ a: [[Double]]) -> [Double] { a.flatMap { x in gt.map { dot(x, $0) } } }
        func p(_ a: [[Double]]) -> [Double] {
            a.indices.flatMap { i in (0..<C).flatMap { c in phit.indices.flatMap { j in (0..<C).map { d in c == d ? dot(a[i], phit[j]) + 1 : 0 } } } }
        }
        return (p(phit), f(gt), p(phie), f(ge))
    }

    // MARK: Tests

    func testTinyModelKernelsEqualBruteForceGradientsInFloat64() throws {
        let model = try writeTinyModel()
        let (trainURL, train) = try writeExamples("train.jsonl", count: 7, classes: 3, seed: 1)
        let (evalURL, eval) = try writeExamples("eval.jsonl", count: 4, classes: 3, seed: 2)
        let (headURL, head) = try writeHead(classes: 3, hidden: 8, seed: 3)
        let out = folder.appendingPathComponent("out")
        // Chunks of 300 of the 2136 dense parameters split stages; slabs of 64 split chunks.
        let r = try MPILauncher.run(np: 1, ["ntk", "--model", model.path, "--examples", trainURL.path, "--eval-examples", evalURL.path,
                                            "--head", headURL.path, "--out", out.path, "--precision", "double",
                                            "--chunk-parameters", "300", "--slab-width", "64"], timeout: 120)
        assertSucceeded(r, "ntk on the tiny model")
        let expected = try bruteForce(model: model, train: train, eval: eval, head: head)
        assertMatrix(try read(out, "pte"), expected.p, rtol: 1e-9, "P train×train")
        assertMatrix(try read(out, "fte"), expected.f, rtol: 1e-9, "F train×train")
        assertMatrix(try read(out, "ntk"), zip(expected.p, expected.f).map(+), rtol: 1e-9, "NTK train×train")
        assertMatrix(try read(out, "pte_eval"), expected.pEval, rtol: 1e-9, "P eval×train")
        assertMatrix(try read(out, "fte_eval"), expected.fEval, rtol: 1e-9, "F eval×train")
        assertMatrix(try read(out, "ntk_eval"), zip(expected.pEval, expected.fEval).map(+), rtol: 1e-9, "NTK eval×train")

        let json = try kernelJSON(out)
        XCTAssertEqual((json["train"] as? [String: Any])?["labels"] as? [Int], train.map(\.label))
        XCTAssertEqual((json["eval"] as? [String: Any])?["ids"] as? [String], eval.map(\.id))
        XCTAssertEqual((json["plan"] as? [String: Any])?["chunks"] as? Int, 8)
        // One SGD step of rate η on the mean loss moves the logits by (η/N)(P+F)δ to first order.
        let oneStep = try XCTUnwrap((json["analysis"] as? [String: Any])?["one_step"] as? [String: Any])
        let comparison = try XCTUnwrap(oneStep["comparison"] as? [String: Any])
        XCTAssertGreaterThan(try XCTUnwrap(comparison["cosine"] as? Double), 0.9999)
        XCTAssertLessThan(try XCTUnwrap(comparison["relative_error"] as? Double), 0.01)
        XCTAssertTrue(r.stdout.contains("FT ratio"), r.stdout)
    }

    func testLoRAKernelEqualsBruteForceOverLoRAFactors() throws {
        let model = try writeTinyModel()
        let (trainURL, train) = try writeExamples("train.jsonl", count: 5, classes: 2, seed: 4)
        let (headURL, head) = try writeHead(classes: 2, hidden: 8, seed: 5)
        let out = folder.appendingPathComponent("out")
        let r = try MPILauncher.run(np: 2, ["ntk", "--model", model.path, "--examples", trainURL.path, "--head", headURL.path,
                                            "--out", out.path, "--precision", "double", "--parameters", "lora",
                                            "--lora-r", "2", "--lora-alpha", "4", "--seed", "17"], timeout: 120)
        assertSucceeded(r, "LoRA ntk on the tiny model")
        let expected = try bruteForce(model: model, train: train, eval: [], head: head,
                                      lora: LoRAConfig(rank: 2, alpha: 4), seed: 17)
        XCTAssertGreaterThan(expected.f.map(abs).max() ?? 0, 0)
        assertMatrix(try read(out, "fte"), expected.f, rtol: 1e-9, "F over LoRA factors")
        assertMatrix(try read(out, "pte"), expected.p, rtol: 1e-9, "P")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("fte_eval.npy").path))
    }

    /// RoBERTa runs the staged backward; GPT-2 (feature = last token, ln_f after the blocks)
    /// runs the full backward per chunk. Both against brute force on the tiny reference models.
    func testRoBERTaAndGPT2KernelsEqualBruteForce() throws {
        let texts = ["Hello world, this is fine.", "A very bad movie!", "Tokens: café and naïve?", "ok"]
        let examples = texts.enumerated().map { Example(id: "t\($0.offset)", text: $0.element, label: $0.offset % 2) }
        let lines = try examples.map {
            String(decoding: try JSONSerialization.data(withJSONObject: ["text": $0.text, "label": $0.label, "id": $0.id]), as: UTF8.self)
        }
        let file = folder.appendingPathComponent("texts.jsonl")
        try lines.joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
        for name in ["tiny-roberta", "tiny-gpt2"] {
            // The model folder: weights from Fixtures/safetensors/<name>, tokenizer from Fixtures/tiny/<name>.
            let model = folder.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: model, withIntermediateDirectories: true)
            for source in ["safetensors", "tiny"] {
                let fixtures = MPILauncher.repositoryRoot.appendingPathComponent("Tests/ModelTests/Fixtures/\(source)/\(name)")
                for item in try FileManager.default.contentsOfDirectory(atPath: fixtures.path)
                where !FileManager.default.fileExists(atPath: model.appendingPathComponent(item).path) {
                    try FileManager.default.copyItem(at: fixtures.appendingPathComponent(item), to: model.appendingPathComponent(item))
                }
            }
            let hidden = try EncoderConfig.load(directory: model).hidden
            let (headURL, head) = try writeHead(classes: 2, hidden: hidden, seed: 31)
            let out = folder.appendingPathComponent("out-\(name)")
            let r = try MPILauncher.run(np: 2, ["ntk", "--model", model.path, "--examples", file.path, "--head", headURL.path,
                                                "--out", out.path, "--precision", "double", "--chunk-parameters", "30000"], timeout: 120)
            assertSucceeded(r, "ntk on \(name)")
            XCTAssertGreaterThan((try kernelJSON(out)["plan"] as? [String: Any])?["chunks"] as? Int ?? 0, 1)
            let expected = try bruteForce(model: model, train: examples, eval: [], head: head)
            assertMatrix(try read(out, "fte"), expected.f, rtol: 1e-9, "\(name): F")
            assertMatrix(try read(out, "pte"), expected.p, rtol: 1e-9, "\(name): P")
        }
    }

    /// Both ways of sharing the Gram products (by rows, by slabs) on 1, 2 and 3 ranks, and the
    /// automatic choice (slabs for these thin blocks), give the matrices of one rank.
    func testOneTwoAndThreeRanksGiveTheSameMatrices() throws {
        let model = try writeTinyModel()
        let (trainURL, _) = try writeExamples("train.jsonl", count: 7, classes: 3, seed: 6)
        let (evalURL, _) = try writeExamples("eval.jsonl", count: 5, classes: 3, seed: 7)
        let (headURL, _) = try writeHead(classes: 3, hidden: 8, seed: 8)
        let names = ["pte", "fte", "ntk", "pte_eval", "fte_eval", "ntk_eval"]
        var first: [String: [Double]] = [:]
        // 2136 dense parameters in chunks of 500, slabs of 100: 22 slabs, owners cycling over the
        // ranks. Owned slabs are multiplied one per thread: at np = 1 (two threads) in pairs and
        // a remainder, at np = 2 and 3 (one thread per rank) after every round.
        for (np, split) in [(1, "rows"), (2, "rows"), (3, "rows"), (1, "slabs"), (2, "slabs"), (3, "slabs"), (3, "auto")] {
            let out = folder.appendingPathComponent("out\(np)-\(split)")
            let r = try MPILauncher.run(np: np, ["ntk", "--model", model.path, "--examples", trainURL.path, "--eval-examples", evalURL.path,
                                                 "--head", headURL.path, "--out", out.path, "--precision", "double",
                                                 "--chunk-parameters", "500", "--slab-width", "100", "--gram-split", split], timeout: 120)
            assertSucceeded(r, "ntk np=\(np) --gram-split \(split)")
            let json = try kernelJSON(out)
            let plan = try XCTUnwrap(json["plan"] as? [String: Any])
            XCTAssertEqual(plan["ranks"] as? Int, np)
            // Every rank's phase times; the slowest rank's gram time is the one reported.
            let byRank = try XCTUnwrap((json["run"] as? [String: Any])?["timings_by_rank"] as? [[String: Double]])
            XCTAssertEqual(byRank.count, np)
            XCTAssertEqual(byRank.compactMap { $0["gram"] }.max(),
                           ((json["run"] as? [String: Any])?["timings"] as? [String: Double])?["gram"])
            XCTAssertEqual(plan["gram_split"] as? String, split == "auto" ? "slabs" : split)
            for name in names {
                let values = try read(out, name)
                if let reference = first[name] {
                    assertMatrix(values, reference, rtol: 1e-6, "\(name) np=\(np) split by \(split) vs np=1 by rows")
                } else {
                    first[name] = values
                }
            }
        }
    }

    /// The kernel regressions' cross-validation folds are dealt over the ranks (15 folds of the
    /// three kernels over 3 ranks) and sent back as rows of doubles: the analysis in kernel.json
    /// equals `KernelAnalysis.kernelRegressionAccuracy` run in one process on the matrices the
    /// job wrote, exactly, at np = 3 as at np = 1.
    func testKernelRegressionFoldsSharedOverRanksEqualOneProcess() throws {
        let model = try writeTinyModel()
        let (trainURL, train) = try writeExamples("train.jsonl", count: 7, classes: 3, seed: 11)
        let (evalURL, eval) = try writeExamples("eval.jsonl", count: 5, classes: 3, seed: 12)
        let (headURL, _) = try writeHead(classes: 3, hidden: 8, seed: 13)
        for np in [3, 1] {
            let out = folder.appendingPathComponent("out\(np)")
            let r = try MPILauncher.run(np: np, ["ntk", "--model", model.path, "--examples", trainURL.path, "--eval-examples", evalURL.path,
                                                 "--head", headURL.path, "--out", out.path, "--precision", "double",
                                                 "--chunk-parameters", "500"], timeout: 120)
            assertSucceeded(r, "ntk np=\(np)")
            // JSONDecoder, not JSONSerialization: the latter reads some doubles one ulp off.
            struct Kernel: Decodable { var kernelRegression: KernelAnalysis.KernelAccuracy }
            struct Written: Decodable { var analysis: Analysis; struct Analysis: Decodable { var pte, fte, ntk: Kernel } }
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            let written = try decoder.decode(Written.self, from: Data(contentsOf: out.appendingPathComponent("kernel.json")))
            for name in ["pte", "fte", "ntk"] {
                let expected = try KernelAnalysis.kernelRegressionAccuracy(
                    train: try read(out, name), labels: train.map(\.label), classes: 3,
                    eval: try read(out, name + "_eval"), evalLabels: eval.map(\.label))
                // Every field: accuracies, chosen strength, scale, convergence and the folds' scores.
                let kernel = [written.analysis.pte, written.analysis.fte, written.analysis.ntk][["pte", "fte", "ntk"].firstIndex(of: name)!]
                XCTAssertEqual(kernel.kernelRegression, expected, "\(name) np=\(np)")
            }
            // Every rank reports the time of its share.
            let byRank = try XCTUnwrap((try kernelJSON(out)["run"] as? [String: Any])?["timings_by_rank"] as? [[String: Double]])
            XCTAssertEqual(byRank.count, np)
            for (rank, timings) in byRank.enumerated() { XCTAssertGreaterThan(timings["analysis"] ?? 0, 0, "np=\(np) rank \(rank)") }
        }

        // `bench analysis` re-fits the written kernels on 2 ranks, shared and on rank 0 alone.
        let bench = try MPILauncher.run(np: 2, ["bench", "analysis", "--kernel", folder.appendingPathComponent("out3").path, "--json"], timeout: 120)
        assertSucceeded(bench, "bench analysis")
        let result = try XCTUnwrap(JSONSerialization.jsonObject(with: Data((bench.stdout.split(separator: "\n").last ?? "").utf8)) as? [String: Any], bench.stdout)
        XCTAssertEqual(result["same_results"] as? Bool, true, bench.stdout)
        XCTAssertEqual(result["matches_kernel_json"] as? Bool, true, bench.stdout)
        XCTAssertEqual(result["train_rows"] as? Int, 21)
        let missing = try MPILauncher.run(np: 2, ["bench", "analysis", "--kernel", folder.appendingPathComponent("nowhere").path], timeout: 60)
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("nowhere/kernel.json"), missing.stderr)
    }

    /// all-MiniLM-L6-v2 with the reference's fixed head on its two texts: P against the [CLS]
    /// states and δᵀFδ/B² against ‖∇θ L‖² = Σ of the squared gradient norms of every backbone
    /// tensor, both from Hugging Face transformers in float64 (minilm-reference.json).
    func testRealModelWithHeadFileMatchesHuggingFaceReference() throws {
        struct Reference: Decodable {
            struct Embedding: Decodable { let text: String; let cls: [Double] }
            struct Stats: Decodable { let frobenius: Double }
            struct Gradients: Decodable { let texts: [String]; let labels: [Int]; let logits: [[Double]]; let grads: [String: Stats] }
            let embeddings: [Embedding]
            let gradients: Gradients
        }
        let root = MPILauncher.repositoryRoot
        let reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: root
            .appendingPathComponent("Tests/ModelTests/Fixtures/reference/minilm-reference.json")))
        let model = root.appendingPathComponent("assets/models/all-MiniLM-L6-v2")
        guard FileManager.default.fileExists(atPath: model.appendingPathComponent("model.safetensors").path) else {
            return XCTFail("Model assets missing at \(model.path): run scripts/fetch-assets.sh first.")
        }
        let g = reference.gradients, H = 384, C = 2
        let head = LinearHead(classes: C, dimension: H, weight: (0..<(C * H)).map { 0.05 * sin(Double($0 + 1)) },
                              bias: (0..<C).map { 0.01 * Double($0 + 1) })
        let headURL = folder.appendingPathComponent("head.safetensors")
        try head.writeSafetensors(to: headURL)
        let lines = try zip(g.texts, g.labels).map { text, label in
            String(decoding: try JSONSerialization.data(withJSONObject: ["text": text, "label": label]), as: UTF8.self)
        }
        let examples = folder.appendingPathComponent("two.jsonl")
        try lines.joined(separator: "\n").write(to: examples, atomically: true, encoding: .utf8)

        // δ = softmax(f) − onehot(y) from the reference logits; ‖∇θ L‖² with L the mean CE.
        let delta = zip(g.logits, g.labels).flatMap { logits, label -> [Double] in
            let top = logits.max()!, e = logits.map { exp($0 - top) }, s = e.reduce(0, +)
            return e.indices.map { e[$0] / s - ($0 == label ? 1 : 0) }
        }
        let gradientNormSquared = g.grads.values.reduce(0) { $0 + $1.frobenius * $1.frobenius }
        let cls = g.texts.map { text in reference.embeddings.first { $0.text == text }!.cls }

        for (precision, tolerance) in [("double", 1e-8), ("float", 2e-4)] {
            let out = folder.appendingPathComponent("out-\(precision)")
            let r = try MPILauncher.run(np: 2, ["ntk", "--model", model.path, "--examples", examples.path, "--head", headURL.path,
                                                "--out", out.path, "--precision", precision], timeout: 300)
            assertSucceeded(r, "ntk on MiniLM (\(precision))")
            let f = try read(out, "fte"), p = try read(out, "pte")
            var quadratic = 0.0
            for i in 0..<4 { for j in 0..<4 { quadratic += delta[i] * f[i * 4 + j] * delta[j] } }
            let predicted = quadratic / 4  // B² = 4
            XCTAssertEqual(predicted, gradientNormSquared, accuracy: tolerance * gradientNormSquared,
                           "\(precision): δᵀFδ/B² vs Σ‖∇‖² of the reference")
            var expectedP = [Double](repeating: 0, count: 16)
            for i in 0..<2 { for j in 0..<2 { for c in 0..<2 {
                expectedP[(i * 2 + c) * 4 + j * 2 + c] = zip(cls[i], cls[j]).reduce(1) { $0 + $1.0 * $1.1 }
            } } }
            assertMatrix(p, expectedP, rtol: tolerance, "\(precision): P vs reference [CLS] states")
            print("MiniLM \(precision): δᵀFδ/4 = \(predicted), reference Σ‖∇‖² = \(gradientNormSquared)")
        }
    }

    func testKilledRunResumesToIdenticalFiles() throws {
        let model = try writeTinyModel()
        let (trainURL, _) = try writeExamples("train.jsonl", count: 6, classes: 2, seed: 9)
        let (evalURL, _) = try writeExamples("eval.jsonl", count: 3, classes: 2, seed: 10)
        let (headURL, _) = try writeHead(classes: 2, hidden: 8, seed: 11)
        for split in ["rows", "slabs"] {
            try killAndResume(split: split, model: model, train: trainURL, eval: evalURL, head: headURL)
        }
    }

    func killAndResume(split: String, model: URL, train trainURL: URL, eval evalURL: URL, head headURL: URL) throws {
        func command(_ out: URL) -> [String] {
            ["ntk", "--model", model.path, "--examples", trainURL.path, "--eval-examples", evalURL.path, "--head", headURL.path,
             "--out", out.path, "--chunk-parameters", "200", "--slab-width", "50", "--gram-split", split]
        }
        let fresh = folder.appendingPathComponent("fresh-\(split)"), resumed = folder.appendingPathComponent("resumed-\(split)")
        assertSucceeded(try MPILauncher.run(np: 2, command(fresh), timeout: 120), "uninterrupted run (split by \(split))")
        XCTAssertFalse(FileManager.default.fileExists(atPath: fresh.appendingPathComponent("checkpoint").path), "checkpoint left behind")

        let killed = try MPILauncher.run(np: 2, command(resumed) + ["--drill-kill-after-chunk", "2"], timeout: 120)
        XCTAssertFalse(killed.timedOut)
        XCTAssertNotEqual(killed.status, 0, "the kill hook did not fire (split by \(split))")
        XCTAssertFalse(FileManager.default.fileExists(atPath: resumed.appendingPathComponent("kernel.json").path))
        let marker = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: resumed
            .appendingPathComponent("checkpoint/checkpoint.json"))) as? [String: Any])
        XCTAssertEqual(marker["chunks_done"] as? Int, 3)

        let again = try MPILauncher.run(np: 2, command(resumed), timeout: 120)
        assertSucceeded(again, "resumed run")
        var json = try kernelJSON(resumed), freshJSON = try kernelJSON(fresh)
        XCTAssertEqual((json["run"] as? [String: Any])?["resumed_from_chunk"] as? Int, 3)
        XCTAssertGreaterThan((json["plan"] as? [String: Any])?["chunks"] as? Int ?? 0, 3)
        for name in ["pte", "fte", "ntk", "pte_eval", "fte_eval", "ntk_eval"] {
            let a = try Data(contentsOf: resumed.appendingPathComponent(name + ".npy"))
            let b = try Data(contentsOf: fresh.appendingPathComponent(name + ".npy"))
            XCTAssertEqual(a, b, "\(name).npy differs after resuming (split by \(split))")
        }
        // kernel.json: everything but the run's timings and memory is the same.
        json["run"] = nil
        freshJSON["run"] = nil
        XCTAssertEqual(json as NSDictionary, freshJSON as NSDictionary)
        XCTAssertFalse(FileManager.default.fileExists(atPath: resumed.appendingPathComponent("checkpoint").path))
    }

    /// `ntk --method lp-ft` starts from the head `train --method lp` fits on the same examples:
    /// the kernels equal those computed with that head file.
    func testLPFTMethodUsesTheTrainersLinearProbe() throws {
        let model = try writeTinyModel()
        let (examplesURL, _) = try writeExamples("probe.jsonl", count: 20, classes: 2, seed: 31)
        let (heldOut, _) = try writeExamples("held-out.jsonl", count: 6, classes: 2, seed: 32)
        let lp = folder.appendingPathComponent("lp")
        assertSucceeded(try MPILauncher.run(np: 2, ["train", "--method", "lp", "--model", model.path, "--train", examplesURL.path,
                                                    "--validation", heldOut.path, "--test", heldOut.path,
                                                    "--text-pair-column", "text_pair", "--out", lp.path, "--quiet"], timeout: 60), "train lp")
        let base = ["ntk", "--model", model.path, "--examples", examplesURL.path]
        let viaMethod = folder.appendingPathComponent("method"), viaFile = folder.appendingPathComponent("file")
        assertSucceeded(try MPILauncher.run(np: 2, base + ["--method", "lp-ft", "--out", viaMethod.path], timeout: 60), "ntk --method lp-ft")
        assertSucceeded(try MPILauncher.run(np: 2, base + ["--head", lp.appendingPathComponent("head.safetensors").path,
                                                          "--out", viaFile.path], timeout: 60), "ntk --head")
        for name in ["pte", "fte", "ntk"] {
            let a = try read(viaMethod, name), b = try read(viaFile, name)
            XCTAssertEqual(a.count, 40 * 40)
            assertMatrix(a, b, rtol: 1e-6, "\(name) via --method lp-ft vs the trainer's LP head")
        }
    }

    func testBadInputsStopEveryRankWithAClearMessage() throws {
        let model = try writeTinyModel()
        let (trainURL, _) = try writeExamples("train.jsonl", count: 4, classes: 3, seed: 12)
        let out = folder.appendingPathComponent("out").path
        let base = ["ntk", "--model", model.path, "--examples", trainURL.path, "--out", out]

        let (wrongWidth, _) = try writeHead(classes: 3, hidden: 5, seed: 13)
        let width = try MPILauncher.run(np: 2, base + ["--head", wrongWidth.path], timeout: 60)
        XCTAssertNotEqual(width.status, 0)
        XCTAssertTrue(width.stderr.contains(wrongWidth.path) && width.stderr.contains("expected [C, 8]"), width.stderr)

        let (twoClasses, _) = try writeHead(classes: 2, hidden: 8, seed: 14)
        let labels = try MPILauncher.run(np: 1, base + ["--head", twoClasses.path], timeout: 60)
        XCTAssertNotEqual(labels.status, 0)
        XCTAssertTrue(labels.stderr.contains("has label 2, but the head has 2 classes"), labels.stderr)

        let (threeClasses, _) = try writeHead(classes: 3, hidden: 8, seed: 15)
        let budget = try MPILauncher.run(np: 1, base + ["--head", threeClasses.path, "--memory-budget", "1MiB"], timeout: 60)
        XCTAssertNotEqual(budget.status, 0)
        XCTAssertTrue(budget.stderr.contains("--memory-budget 1.00 MiB is too small"), budget.stderr)

        let malformed = folder.appendingPathComponent("bad.jsonl")
        try "{\"text\": \"good movie\", \"label\": 0}\n{\"text\": \"bad\", \"label\": \"pos\"}\n".write(to: malformed, atomically: true, encoding: .utf8)
        let bad = try MPILauncher.run(np: 2, ["ntk", "--model", model.path, "--examples", malformed.path, "--method", "ft", "--out", out], timeout: 60)
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("bad.jsonl:2") && bad.stderr.contains("class index"), bad.stderr)
    }
}
