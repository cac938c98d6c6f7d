import XCTest
@testable import Model

/// SafetensorsFile / SafetensorsWriter: hand-made byte files, round trips, every corruption
/// case, the real all-MiniLM-L6-v2 weights (values checked with numpy) and the tiny reference models.
final class SafetensorsTests: XCTestCase {
    private var temporaryDirectory: URL!

    override func setUpWithError() throws {
        temporaryDirectory = FileManager.default.temporaryDirectory
            .appendingPathComponent("SafetensorsTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: temporaryDirectory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: temporaryDirectory)
    }

    /// Writes a file by hand: u64 little-endian header length, header JSON, data bytes.
    private func handMadeFile(header: String, data: [UInt8], name: String = "hand.safetensors") throws -> URL {
        let headerBytes = Array(header.utf8)
        var bytes = withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { Array($0) }
        bytes += headerBytes + data
        let url = temporaryDirectory.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }

    /// Asserts that opening `url` fails with a message naming the file and `mentions`.
    private func assertOpenFails(_ url: URL, mentioning mentions: [String],
                                 file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try SafetensorsFile(url: url), file: file, line: line) { error in
            let message = error.localizedDescription
            for expected in [url.path] + mentions {
                XCTAssertTrue(message.contains(expected), "\"\(expected)\" missing from: \(message)", file: file, line: line)
            }
        }
    }

    // MARK: Hand-made files

    func testReadsHandMadeFileOfEveryDType() throws {
        // Little-endian bytes written out by hand (IEEE 754 bit patterns in the comments).
        let data: [UInt8] =
            [0x00, 0x00, 0xC0, 0x3F, 0x00, 0x00, 0x10, 0xC0]                          // F32 1.5 (3FC00000), -2.25 (C0100000)
            + [0x9A, 0x99, 0x99, 0x99, 0x99, 0x99, 0xB9, 0x3F]                        // F64 0.1 (3FB999999999999A)
            + [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0xC0]                        // F64 -3.0 (C008000000000000)
            + [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]                        // I64 -1
            + [0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00]                        // I64 2^40
            + [0x00, 0x3C, 0x00, 0xC0, 0xFF, 0x7B, 0x01, 0x00]                        // F16 1, -2, 65504, 2^-24
            + [0x80, 0x3F, 0x00, 0xBF]                                                // BF16 1, -0.5
            + [0xFE, 0x07]                                                            // I8 -2, 7
        let header = #"{"f32":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"#
            + #""f64":{"dtype":"F64","shape":[1,2],"data_offsets":[8,24]},"#
            + #""i64":{"dtype":"I64","shape":[2],"data_offsets":[24,40]},"#
            + #""f16":{"dtype":"F16","shape":[2,2],"data_offsets":[40,48]},"#
            + #""bf16":{"dtype":"BF16","shape":[2],"data_offsets":[48,52]},"#
            + #""i8":{"dtype":"I8","shape":[2],"data_offsets":[52,54]},"#
            + #""__metadata__":{"format":"pt","note":"hand made."}}"#
        // The header length is odd, so every tensor sits at an unaligned file offset.
        XCTAssertEqual(header.utf8.count % 2, 1)
        let file = try SafetensorsFile(url: handMadeFile(header: header, data: data))

        XCTAssertEqual(file.tensorNames, ["f32", "f64", "i64", "f16", "bf16", "i8"])
        XCTAssertEqual(file.metadata, ["format": "pt", "note": "hand made."])
        XCTAssertEqual(file.info("f64"), SafetensorsTensorInfo(name: "f64", dtype: .float64, shape: [1, 2],
                                                                dataOffsets: 8..<24, elementCount: 2))
        XCTAssertEqual(try file.floats("f32"), [1.5, -2.25])
        XCTAssertEqual(try file.doubles("f64"), [0.1, -3.0])
        XCTAssertEqual(try file.floats("f64"), [Float(0.1), -3.0])
        XCTAssertEqual(try file.doubles("f32"), [1.5, -2.25])
        XCTAssertEqual(try file.int64s("i64"), [-1, 1 << 40])
        XCTAssertEqual(try file.floats("f16"), [1, -2, 65504, 0x1p-24])
        XCTAssertEqual(try file.floats("bf16"), [1, -0.5])
        XCTAssertEqual(try file.int64s("i8"), [-2, 7])

        var destination = [Float](repeating: .nan, count: 2)
        try destination.withUnsafeMutableBufferPointer {
            try file.read("f32", into: $0, expectedShape: [2])
        }
        XCTAssertEqual(destination, [1.5, -2.25])
    }

    func testHalfPrecisionSpecialValues() throws {
        // F16: -0 (8000), +inf (7C00), NaN (7E00), largest subnormal 03FF = 1023·2^-24.
        let url = try handMadeFile(header: #"{"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}}"#,
                                   data: [0x00, 0x80, 0x00, 0x7C, 0x00, 0x7E, 0xFF, 0x03])
        let values = try SafetensorsFile(url: url).floats("h")
        XCTAssertEqual(values[0].bitPattern, (-Float(0)).bitPattern)
        XCTAssertEqual(values[1], .infinity)
        XCTAssertTrue(values[2].isNaN)
        XCTAssertEqual(values[3], 1023 * 0x1p-24)
    }

    // MARK: Round trip

    func testRoundTripIsBitIdenticalAndKeepsMetadata() throws {
        let floats: [Float] = [0, -0.0, 1, -1.5, .pi, .infinity, -.infinity, .leastNonzeroMagnitude,
                               .greatestFiniteMagnitude, Float(bitPattern: 0x7FC0_1234)]  // NaN with payload
        let doubles: [Double] = [0.1, -2e300, .leastNormalMagnitude, 4]
        let integers: [Int64] = [0, -1, .max, .min, 511]
        let url = temporaryDirectory.appendingPathComponent("round.safetensors")
        try SafetensorsWriter.write([
            .init(name: "layer.weight", shape: [2, 5], values: .float32(floats)),
            .init(name: "scalar", shape: [], values: .float32([42])),
            .init(name: "empty", shape: [0, 3], values: .float32([])),
            .init(name: "doubles", shape: [4], values: .float64(doubles)),
            .init(name: "ids", shape: [1, 5], values: .int64(integers)),
        ], to: url, metadata: ["format": "pt", "step": "12"])

        let file = try SafetensorsFile(url: url)
        XCTAssertEqual(file.tensorNames, ["layer.weight", "scalar", "empty", "doubles", "ids"])  // write order
        XCTAssertEqual(file.metadata, ["format": "pt", "step": "12"])
        XCTAssertEqual(try file.floats("layer.weight").map(\.bitPattern), floats.map(\.bitPattern))
        XCTAssertEqual(file.info("layer.weight")?.shape, [2, 5])
        XCTAssertEqual(file.info("scalar")?.shape, [])
        XCTAssertEqual(try file.floats("scalar"), [42])
        XCTAssertEqual(try file.floats("empty"), [])
        XCTAssertEqual(file.info("empty")?.shape, [0, 3])
        XCTAssertEqual(try file.doubles("doubles").map(\.bitPattern), doubles.map(\.bitPattern))
        XCTAssertEqual(try file.int64s("ids"), integers)
        XCTAssertEqual(file.info("ids")?.dtype, .int64)

        // The layout itself: 8-byte aligned data start, offsets packed in write order.
        let bytes = try Data(contentsOf: url)
        let headerLength = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        XCTAssertEqual(headerLength % 8, 0)
        XCTAssertEqual(bytes.count, 8 + headerLength + 10 * 4 + 4 + 4 * 8 + 5 * 8)
        let header = try JSONSerialization.jsonObject(with: bytes.subdata(in: 8..<8 + headerLength)) as? [String: Any]
        let doublesEntry = header?["doubles"] as? [String: Any]
        XCTAssertEqual(doublesEntry?["dtype"] as? String, "F64")
        XCTAssertEqual(doublesEntry?["data_offsets"] as? [Int], [44, 76])
    }

    func testWriteReplacesExistingFileAndLeavesNoTemporaryFile() throws {
        let url = temporaryDirectory.appendingPathComponent("model.safetensors")
        try SafetensorsWriter.write([(name: "w", shape: [2], values: [1, 2])], to: url)
        try SafetensorsWriter.write([(name: "w", shape: [3], values: [3, 4, 5])], to: url)
        XCTAssertEqual(try SafetensorsFile(url: url).floats("w"), [3, 4, 5])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: temporaryDirectory.path), ["model.safetensors"])
    }

    func testWriteRejectsBadInput() throws {
        let url = temporaryDirectory.appendingPathComponent("bad.safetensors")
        XCTAssertThrowsError(try SafetensorsWriter.write([(name: "w", shape: [2, 2], values: [1, 2, 3])], to: url)) {
            XCTAssertTrue($0.localizedDescription.contains("\"w\""), $0.localizedDescription)
        }
        XCTAssertThrowsError(try SafetensorsWriter.write([(name: "w", shape: [1], values: [1]),
                                                          (name: "w", shape: [1], values: [2])], to: url))
        let missingFolder = temporaryDirectory.appendingPathComponent("no/such/folder/x.safetensors")
        XCTAssertThrowsError(try SafetensorsWriter.write([(name: "w", shape: [1], values: [1])], to: missingFolder)) {
            XCTAssertTrue($0.localizedDescription.contains(missingFolder.path), $0.localizedDescription)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: url.path))
    }

    // MARK: Corrupt files

    func testRejectsFileShorterThanHeaderLength() throws {
        let url = temporaryDirectory.appendingPathComponent("short.safetensors")
        try Data([1, 2, 3]).write(to: url)
        assertOpenFails(url, mentioning: ["3 bytes"])
    }

    func testRejectsHeaderLengthBeyondFile() throws {
        let url = temporaryDirectory.appendingPathComponent("long.safetensors")
        try Data([0xFF, 0, 0, 0, 0, 0, 0, 0, 0x7B, 0x7D]).write(to: url)  // claims 255 header bytes, has 2
        assertOpenFails(url, mentioning: ["255"])
        try Data([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]).write(to: url)  // u64 max: no overflow
        assertOpenFails(url, mentioning: ["18446744073709551615"])
    }

    func testRejectsHeaderThatIsNotAJSONObject() throws {
        assertOpenFails(try handMadeFile(header: "{not json", data: []), mentioning: ["JSON"])
        assertOpenFails(try handMadeFile(header: "[1, 2]", data: [], name: "array.safetensors"), mentioning: ["object"])
        assertOpenFails(try handMadeFile(header: #"{"__metadata__": {"n": 1}}"#, data: [], name: "meta.safetensors"),
                        mentioning: ["__metadata__"])
    }

    func testRejectsMissingFields() throws {
        let cases = [
            ("dtype", #"{"w":{"shape":[1],"data_offsets":[0,4]}}"#),
            ("shape", #"{"w":{"dtype":"F32","data_offsets":[0,4]}}"#),
            ("data_offsets", #"{"w":{"dtype":"F32","shape":[1]}}"#),
        ]
        for (field, header) in cases {
            assertOpenFails(try handMadeFile(header: header, data: [0, 0, 0, 0], name: "\(field).safetensors"),
                            mentioning: ["\"w\"", field])
        }
        assertOpenFails(try handMadeFile(header: #"{"w":[1]}"#, data: [], name: "entry.safetensors"), mentioning: ["\"w\""])
        assertOpenFails(try handMadeFile(header: #"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#,
                                         data: [0, 0, 0, 0], name: "negative.safetensors"), mentioning: ["\"w\"", "shape"])
        assertOpenFails(try handMadeFile(header: #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#,
                                         data: [0, 0, 0, 0], name: "reversed.safetensors"), mentioning: ["\"w\"", "data_offsets"])
    }

    func testRejectsUnknownDType() throws {
        let url = try handMadeFile(header: #"{"w":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0])
        assertOpenFails(url, mentioning: ["\"w\"", "F33"])
    }

    func testRejectsOffsetsThatDoNotMatchShape() throws {
        let url = try handMadeFile(header: #"{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}"#,
                                   data: [UInt8](repeating: 0, count: 24))
        assertOpenFails(url, mentioning: ["\"w\"", "[2, 3]", "24 bytes", "span 20"])
    }

    func testRejectsOffsetsOutsideTheData() throws {
        let url = try handMadeFile(header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                                   data: [UInt8](repeating: 0, count: 8))
        assertOpenFails(url, mentioning: ["\"w\"", "[4, 12]", "8-byte"])
    }

    func testRejectsOverlappingTensors() throws {
        let url = try handMadeFile(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"#
                                       + #""b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                                   data: [UInt8](repeating: 0, count: 12))
        assertOpenFails(url, mentioning: ["\"a\"", "\"b\"", "overlap"])
    }

    func testReadErrorsNameFileTensorAndShapes() throws {
        let url = try handMadeFile(header: #"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"#
                                       + #""i":{"dtype":"I64","shape":[1],"data_offsets":[16,24]}}"#,
                                   data: [UInt8](repeating: 0, count: 24))
        let file = try SafetensorsFile(url: url)
        XCTAssertThrowsError(try file.floats("missing")) { error in
            XCTAssertEqual(error as? SafetensorsError, .tensorNotFound(url, tensor: "missing", available: ["w", "i"]))
            XCTAssertTrue(error.localizedDescription.contains(url.path))
        }
        var destination = [Float](repeating: 0, count: 4)
        XCTAssertThrowsError(try destination.withUnsafeMutableBufferPointer {
            try file.read("w", into: $0, expectedShape: [4])
        }) { error in
            let message = error.localizedDescription
            for expected in [url.path, "\"w\"", "expected shape [4]", "found [2, 2]"] {
                XCTAssertTrue(message.contains(expected), "\"\(expected)\" missing from: \(message)")
            }
        }
        XCTAssertThrowsError(try destination.withUnsafeMutableBufferPointer {
            try file.read("w", into: UnsafeMutableBufferPointer(rebasing: $0[0..<3]), expectedShape: [2, 2])
        })
        XCTAssertThrowsError(try file.floats("i")) { error in
            XCTAssertTrue(error.localizedDescription.contains("I64"), error.localizedDescription)
        }
        XCTAssertThrowsError(try file.int64s("w"))
    }

    func testMissingFileNamesThePath() {
        let url = temporaryDirectory.appendingPathComponent("absent.safetensors")
        assertOpenFails(url, mentioning: [])
    }

    // MARK: Real files

    /// all-MiniLM-L6-v2 weights; expected values from numpy.frombuffer on the same bytes:
    /// word_embeddings.weight[0, 0:4] = -0.019989013671875, -0.0034027099609375,
    /// -0.014678955078125, 0.0117034912109375; [30521, 383] = 0.004570063669234514.
    func testReadsMiniLMWeights() throws {
        let file = try SafetensorsFile(url: LoaderTestAssets.miniLMDirectory().appendingPathComponent("model.safetensors"))
        XCTAssertEqual(file.tensorNames.count, 104)
        XCTAssertEqual(file.metadata, ["format": "pt"])
        XCTAssertEqual(file.tensorNames.first, "embeddings.position_ids")
        XCTAssertEqual(file.tensorNames.last, "pooler.dense.weight")

        let embeddings = try XCTUnwrap(file.info("embeddings.word_embeddings.weight"))
        XCTAssertEqual(embeddings.dtype, .float32)
        XCTAssertEqual(embeddings.shape, [30522, 384])
        let values = try file.floats("embeddings.word_embeddings.weight")
        XCTAssertEqual(values.prefix(4).map(\.bitPattern), [0xBCA3_C000, 0xBB5F_0000, 0xBC70_8000, 0x3C3F_C000])
        XCTAssertEqual(Array(values.prefix(4)), [-0.019989013671875, -0.0034027099609375, -0.014678955078125, 0.0117034912109375])
        XCTAssertEqual(values.last?.bitPattern, 0x3B95_C079)

        let positions = try XCTUnwrap(file.info("embeddings.position_ids"))
        XCTAssertEqual(positions.dtype, .int64)
        XCTAssertEqual(positions.shape, [1, 512])
        XCTAssertEqual(try file.int64s("embeddings.position_ids"), Array(0..<512))

        // Every F32 tensor into one parameter block, as the model loader will do.
        let floatTensors = file.tensorNames.compactMap(file.info).filter { $0.dtype == .float32 }
        XCTAssertEqual(floatTensors.count, 103)
        let total = floatTensors.reduce(0) { $0 + $1.elementCount }
        XCTAssertEqual(total, 22_713_216)  // all-MiniLM-L6-v2 parameter count
        var block = [Float](repeating: 0, count: total)
        let start = Date()
        try block.withUnsafeMutableBufferPointer { buffer in
            var offset = 0
            for tensor in floatTensors {
                try file.read(tensor.name, into: UnsafeMutableBufferPointer(rebasing: buffer[offset..<offset + tensor.elementCount]),
                              expectedShape: tensor.shape)
                offset += tensor.elementCount
            }
        }
        print("read \(total) floats of all-MiniLM-L6-v2 in \(Date().timeIntervalSince(start)) s")
        let wordEmbeddingsStart = floatTensors.prefix { $0.name != "embeddings.word_embeddings.weight" }
            .reduce(0) { $0 + $1.elementCount }
        XCTAssertEqual(block[wordEmbeddingsStart].bitPattern, 0xBCA3_C000)
    }

    /// The tiny reference models (../shared/reference/tiny, copied into Fixtures/safetensors):
    /// tensor counts, and embedding shapes from their config.json.
    func testReadsTinyReferenceModels() throws {
        func config(_ model: String) throws -> [String: Any] {
            let url = try LoaderTestAssets.fixture("config", "json", subdirectory: "safetensors/\(model)")
            return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        }
        let roberta = try SafetensorsFile(url: LoaderTestAssets.fixture("model", "safetensors", subdirectory: "safetensors/tiny-roberta"))
        let robertaConfig = try config("tiny-roberta")
        XCTAssertEqual(roberta.tensorNames.count, 37)
        let robertaVocabulary = try XCTUnwrap(robertaConfig["vocab_size"] as? Int)
        let robertaHidden = try XCTUnwrap(robertaConfig["hidden_size"] as? Int)
        XCTAssertEqual(roberta.info("embeddings.word_embeddings.weight")?.shape, [robertaVocabulary, robertaHidden])
        XCTAssertEqual(try roberta.floats("embeddings.word_embeddings.weight").count, robertaVocabulary * robertaHidden)

        let gpt2 = try SafetensorsFile(url: LoaderTestAssets.fixture("model", "safetensors", subdirectory: "safetensors/tiny-gpt2"))
        let gpt2Config = try config("tiny-gpt2")
        XCTAssertEqual(gpt2.tensorNames.count, 28)
        let gpt2Vocabulary = try XCTUnwrap(gpt2Config["vocab_size"] as? Int)
        let gpt2Embedding = try XCTUnwrap(gpt2Config["n_embd"] as? Int)
        let gpt2Positions = try XCTUnwrap(gpt2Config["n_positions"] as? Int)
        XCTAssertEqual(gpt2.info("wte.weight")?.shape, [gpt2Vocabulary, gpt2Embedding])
        XCTAssertEqual(gpt2.info("wpe.weight")?.shape, [gpt2Positions, gpt2Embedding])
    }
}
