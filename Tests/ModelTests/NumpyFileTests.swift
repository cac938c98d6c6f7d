import Foundation
import XCTest
@testable import Model

/// The .npy writer and reader against files written by numpy itself (Fixtures/kernel).
final class NumpyFileTests: XCTestCase {
    func testWriterProducesNumpysBytes() throws {
        let matrix = try Data(contentsOf: LoaderTestAssets.fixture("m23", "npy", subdirectory: "kernel"))
        XCTAssertEqual(NumpyFile.encode([1.5, -2.0, 3.25, 0.0, 1e-300, -7.125], shape: [2, 3]), matrix)
        let vector = try Data(contentsOf: LoaderTestAssets.fixture("v4", "npy", subdirectory: "kernel"))
        XCTAssertEqual(NumpyFile.encode([0.5, 1.0, -2.0, 3.0], shape: [4]), vector)
    }

    func testReadsNumpysFilesAndRoundTrips() throws {
        let (shape, values) = try NumpyFile.read(LoaderTestAssets.fixture("m23", "npy", subdirectory: "kernel"))
        XCTAssertEqual(shape, [2, 3])
        XCTAssertEqual(values, [1.5, -2.0, 3.25, 0.0, 1e-300, -7.125])
        // A large shape: the header still pads the data start to a multiple of 64.
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("npy-\(UUID().uuidString).npy")
        defer { try? FileManager.default.removeItem(at: url) }
        let big = (0..<(123 * 1001)).map { Double($0) * 0.25 - 7 }
        try NumpyFile.write(big, shape: [123, 1001], to: url)
        let bytes = try Data(contentsOf: url)
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        XCTAssertEqual((10 + headerLength) % 64, 0)
        let back = try NumpyFile.read(url)
        XCTAssertEqual(back.shape, [123, 1001])
        XCTAssertEqual(back.values, big)
    }

    func testMalformedFilesAreClearErrors() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("npy-\(UUID().uuidString).npy")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data("not an array".utf8).write(to: url)
        XCTAssertThrowsError(try NumpyFile.read(url)) { error in
            XCTAssertTrue((error as? LocalizedError)?.errorDescription?.contains("magic") ?? false, "\(error)")
        }
        var truncated = NumpyFile.encode([1, 2, 3, 4], shape: [2, 2])
        truncated.removeLast(8)
        try truncated.write(to: url)
        XCTAssertThrowsError(try NumpyFile.read(url)) { error in
            XCTAssertTrue((error as? LocalizedError)?.errorDescription?.contains("expected 32 data bytes") ?? false, "\(error)")
        }
    }
}
