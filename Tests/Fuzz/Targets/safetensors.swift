import Foundation
import Model

/// Input: a whole safetensors file. Opens it and reads every tensor in every supported way.
func fuzzOneInput(_ bytes: [UInt8]) {
    let url = scratchFile("input.safetensors", bytes[...])
    guard let file = try? SafetensorsFile(url: url) else { return }
    for name in file.tensorNames {
        _ = try? file.floats(name)
        _ = try? file.doubles(name)
        _ = try? file.int64s(name)
        if let info = file.info(name), info.elementCount <= 1 << 20 {
            let destination = UnsafeMutableBufferPointer<Float>.allocate(capacity: info.elementCount)
            defer { destination.deallocate() }
            try? file.read(name, into: destination, expectedShape: info.shape)
        }
    }
}
