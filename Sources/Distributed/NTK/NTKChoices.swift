import Foundation
import Model

// The choices of `lpft-mpi ntk` as plain values (Foundation only): the command line and its
// fuzz target use them without MPI.

/// Training methods whose starting point `lpft-mpi ntk --method` reproduces.
public enum NTKMethod: String, CaseIterable, Sendable {
    case lpFT = "lp-ft", ft, lora, lpLoRA = "lp-lora"

    /// LoRA methods differentiate the LoRA factors only.
    public var parameterSet: NTKParameterSet { self == .lora || self == .lpLoRA ? .lora : .backbone }
    /// lp-ft and lp-lora start from the LP head; ft and lora from the initial head.
    public var usesLinearProbe: Bool { self == .lpFT || self == .lpLoRA }
}

/// Scalar type of the Jacobian: float (sgemm speed) or double (exact reference checks).
public enum NTKPrecision: String, Codable, Sendable, CaseIterable {
    case float, double
}

/// Which parameters θ the FT-effective part F = G·Gᵀ differentiates.
public enum NTKParameterSet: String, Codable, Sendable, CaseIterable {
    /// Every backbone parameter (head excluded): FT and LP-FT.
    case backbone
    /// LoRA factors only: LoRA and LP-LoRA.
    case lora
}

/// How the products of F = G·Gᵀ are shared among the ranks.
public enum NTKGramSplit: String, Codable, Sendable, CaseIterable {
    /// By rows: each rank multiplies its own block of rows with itself and with its partners'
    /// blocks (pairing rounds). Scales to many rows: no rank holds more than its tiles.
    case rows
    /// By slabs: each rank gathers every rank's rows of the slabs it owns and forms the whole
    /// kernel over them (one SYRK of all N·C rows per slab). For thin row blocks, where a SYRK
    /// of a rank's own few rows runs well below sgemm speed; every rank holds full-size sums.
    case slabs
}

/// "4.00 GiB", "512 MiB", "1000 B".
public func formatBytes(_ bytes: Int) -> String {
    let units = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
    for (name, size) in units where abs(bytes) >= size {
        return String(format: "%.2f %@", Double(bytes) / Double(size), name)
    }
    return "\(bytes) B"
}

/// A byte-count flag such as --memory-budget, parsed, or an `InvalidSetting` naming it.
public func checkedByteCount(_ name: String, _ text: String) throws -> Int {
    guard let bytes = parseByteCount(text) else {
        throw InvalidSetting(name, value: text, expected: "a size such as 4GiB, 512MiB or 2GB")
    }
    return bytes
}

/// Parses a byte count: "4GiB", "512MiB", "100KiB", "2GB" (10⁹), "1.5GiB", or plain bytes.
public func parseByteCount(_ text: String) -> Int? {
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    let units: [(String, Double)] = [("TiB", 0x1p40), ("GiB", 0x1p30), ("MiB", 0x1p20), ("KiB", 0x1p10),
                                     ("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3), ("kB", 1e3), ("B", 1)]
    for (suffix, factor) in units where trimmed.hasSuffix(suffix) {
        let number = trimmed.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)
        guard let value = Double(number), value > 0, value * factor < 0x1p62 else { return nil }
        return Int(value * factor)
    }
    guard let value = Int(trimmed), value > 0 else { return nil }
    return value
}
