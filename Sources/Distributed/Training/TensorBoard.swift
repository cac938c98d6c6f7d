import Foundation

/// TensorBoard event files, written by hand: a TFRecord stream (length, masked CRC-32C of the
/// length, an `Event` protocol buffer, masked CRC-32C of it) whose first event carries
/// file_version "brain.Event:2" and whose others carry one scalar each:
///   Event { wall_time = 1 (double), step = 2 (int64), file_version = 3, summary = 5 }
///   Summary { value = 1 }   Value { tag = 1 (string), simple_value = 2 (float) }
enum TensorBoardEvents {
    /// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as TFRecord uses it.
    static func crc32c(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return ~crc
    }

    static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0x82F6_3B78 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// TFRecord's masking, so a CRC of data that contains CRCs is not degenerate.
    static func masked(_ crc: UInt32) -> UInt32 { ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8 }

    /// One TFRecord around `payload`.
    static func record(_ payload: [UInt8]) -> [UInt8] {
        let length = littleEndian(UInt64(payload.count))
        return length + littleEndian(masked(crc32c(length))) + payload + littleEndian(masked(crc32c(payload)))
    }

    static func littleEndian<I: FixedWidthInteger>(_ value: I) -> [UInt8] {
        (0..<(I.bitWidth / 8)).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
    }

    // Protocol-buffer wire format: key = field << 3 | type (0 varint, 1 fixed64, 2 bytes, 5 fixed32).
    static func varint(_ value: UInt64) -> [UInt8] {
        var v = value, out: [UInt8] = []
        repeat {
            out.append(UInt8(v & 0x7F) | (v >= 0x80 ? 0x80 : 0))
            v >>= 7
        } while v != 0
        return out
    }

    static func bytesField(_ field: UInt64, _ bytes: [UInt8]) -> [UInt8] {
        varint(field << 3 | 2) + varint(UInt64(bytes.count)) + bytes
    }

    /// Event { wall_time, step, file_version } or Event { wall_time, step, summary { value { tag, simple_value } } }.
    static func event(wallTime: Double, step: Int64, fileVersion: String? = nil, scalar: (tag: String, value: Float)? = nil) -> [UInt8] {
        var out = varint(1 << 3 | 1) + littleEndian(wallTime.bitPattern)
        out += varint(2 << 3 | 0) + varint(UInt64(bitPattern: step))
        if let fileVersion { out += bytesField(3, Array(fileVersion.utf8)) }
        if let scalar {
            let value = bytesField(1, Array(scalar.tag.utf8)) + varint(2 << 3 | 5) + littleEndian(scalar.value.bitPattern)
            out += bytesField(5, bytesField(1, value))
        }
        return out
    }
}

/// The scalars of a training run as TensorBoard event files in one folder (rank 0). Every event
/// is written to the file as it comes (no buffering in the process), so `tensorboard --logdir`
/// shows a running job; a resumed run adds a new file to the same folder.
final class ScalarLog {
    private let handle: FileHandle
    let url: URL

    init(directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let host = ProcessInfo.processInfo.hostName
        let now = Date().timeIntervalSince1970
        url = directory.appendingPathComponent("events.out.tfevents.\(Int(now)).\(host).\(getpid()).lpft-mpi")
        guard FileManager.default.createFile(atPath: url.path, contents: nil),
              let handle = try? FileHandle(forWritingTo: url) else {
            throw TrainingError.invalidSetting("--tensorboard \(directory.path): cannot create an event file there; choose a writable folder")
        }
        self.handle = handle
        write(TensorBoardEvents.event(wallTime: now, step: 0, fileVersion: "brain.Event:2"))
    }

    deinit { try? handle.close() }

    func scalar(_ tag: String, _ value: Double, step: Int) {
        write(TensorBoardEvents.event(wallTime: Date().timeIntervalSince1970, step: Int64(step), scalar: (tag, Float(value))))
    }

    /// Per optimizer step: loss, learning rate, gradient norm (before clipping), throughput, times.
    func step(_ r: StepRecord, examplesPerSecond: Double) {
        scalar("train/loss", r.loss, step: r.global_step)
        scalar("train/learning_rate", r.learning_rate, step: r.global_step)
        scalar("train/grad_norm", r.grad_norm, step: r.global_step)
        scalar("train/examples_per_s", examplesPerSecond, step: r.global_step)
        scalar("train/step_seconds", r.seconds ?? 0, step: r.global_step)
        scalar("train/allreduce_seconds", r.allreduce_seconds ?? 0, step: r.global_step)
    }

    /// Per validation: accuracy, loss, head norm.
    func validation(_ r: EpochRecord) {
        let step = r.global_step ?? r.epoch
        scalar("validation/accuracy", r.validation_accuracy, step: step)
        scalar("validation/loss", r.validation_loss, step: step)
        scalar("validation/head_norm", r.head_norm, step: step)
    }

    /// Forces the written events to disk (the process may be about to exit).
    func flush() { try? handle.synchronize() }

    private func write(_ payload: [UInt8]) {
        try? handle.write(contentsOf: TensorBoardEvents.record(payload))
    }
}
