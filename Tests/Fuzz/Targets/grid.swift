import Foundation
import Distributed

/// Input: byte 0 even → the rest is a grid file (YAML or JSON) read by `SweepGrid.load`;
/// odd → the rest is a manifest.jsonl read by `SweepRun.parseManifest`. A reader either returns
/// a value that keeps its promises or throws a `SweepError` whose message names the file.
func fuzzOneInput(_ bytes: [UInt8]) {
    guard let first = bytes.first else { return }
    if first & 1 == 0 { checkGrid(bytes.dropFirst()) } else { checkManifest(Data(bytes.dropFirst())) }
}

/// Grids expanded per input at most (the product of the axes, before equal runs collapse).
let maximumExpandedRuns = 2000

func checkGrid(_ bytes: ArraySlice<UInt8>) {
    let url = scratchFile("grid.yaml", bytes)
    let grid: SweepGrid
    do { grid = try SweepGrid.load(url) } catch {
        requireClearError(error, naming: url.path)
        return
    }
    require(!grid.tasks.isEmpty && !grid.methods.isEmpty && !grid.seeds.isEmpty, "a grid without runs was accepted")
    require(Set(grid.tasks.map(\.name)).count == grid.tasks.count, "task names repeat")
    for (flag, values) in grid.parameters {
        require(!values.isEmpty && isTrainFlag(flag), "parameter '\(flag)' accepted")
    }
    for flags in grid.overrides.values {
        for (flag, values) in flags { require(values?.isEmpty != true && isTrainFlag(flag), "override '\(flag)' accepted") }
    }
    // Runs before duplicates collapse: per method, the product of its resolved axes.
    var planned = 0.0
    for method in grid.methods {
        var axes = grid.parameters.mapValues(\.count)
        for (flag, values) in grid.overrides[method] ?? [:] { axes[flag] = values?.count }
        planned += axes.values.reduce(1.0) { $0 * Double($1) }
    }
    planned *= Double(grid.tasks.count) * Double(grid.seeds.count)
    // The grid's own count (integer, saturating) agrees, and expand refuses exactly the grids
    // over the limit, before making any run.
    let count = grid.combinationCount
    if planned < 9e15 { require(Double(count) == planned, "combinationCount \(count) for \(planned) combinations") }
    else { require(Double(count) >= 9e15, "combinationCount \(count) for \(planned) combinations") }
    let runs: [SweepRun]
    do {
        runs = try grid.expand(limit: maximumExpandedRuns, source: "fuzz.yaml")
    } catch {
        require(planned > Double(maximumExpandedRuns), "refused a grid of \(planned) combinations: \(error)")
        require("\(error.localizedDescription)".contains("more than the limit"), "refusal without the limit: \(error)")
        return
    }
    require(planned <= Double(maximumExpandedRuns), "expanded a grid of \(planned) combinations over the limit")
    require(!runs.isEmpty && Double(runs.count) <= planned, "\(runs.count) runs from \(planned) combinations")
    require(Set(runs.map(\.id)).count == runs.count, "run ids repeat")
    for run in runs {
        let settings = ["--method", run.method, "--seed", String(run.seed)]
        require(run.arguments.indices.contains { run.arguments[$0...].starts(with: settings) }, "\(run.id): no \(settings)")
    }
    // The plan written as manifest.jsonl (RunFiles.writeJSONLines' encoding) reads back unchanged.
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    var manifest = Data()
    for run in runs {
        do { manifest += try encoder.encode(run) + Data("\n".utf8) } catch {
            fail("\(run.id): cannot be written to the manifest: \(error)")
        }
    }
    do {
        let back = try SweepRun.parseManifest(manifest, path: "manifest.jsonl")
        require(back == runs, "the manifest reads back different runs: \(difference(runs, back))")
    } catch {
        fail("the plan's own manifest is rejected: \(error.localizedDescription)")
    }
}

func checkManifest(_ data: Data) {
    let runs: [SweepRun]
    do { runs = try SweepRun.parseManifest(data, path: "manifest.jsonl") } catch {
        requireClearError(error, naming: "manifest.jsonl:")
        return
    }
    require(!runs.isEmpty && Set(runs.map(\.id)).count == runs.count, "empty manifest or repeated ids accepted")
    for run in runs {
        require(!run.id.isEmpty && run.id != "." && run.id != ".." && !run.id.contains("/"), "run id '\(run.id)' leaves the sweep folder")
    }
    // Reading is idempotent: the runs written again read back as themselves.
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    do {
        let again = try runs.map { try encoder.encode($0) + Data("\n".utf8) }.reduce(Data(), +)
        let back = try SweepRun.parseManifest(again, path: "manifest.jsonl")
        require(back == runs, "the manifest changes when written again: \(difference(runs, back))")
    } catch {
        fail("runs read from a manifest cannot be written back: \(error)")
    }
}

/// A reader's error: a `SweepError` whose message is non-empty and names the file.
func requireClearError(_ error: Error, naming file: String) {
    guard let error = error as? SweepError else { fail("not a SweepError: \(type(of: error)) \(error)") }
    let message = error.errorDescription ?? ""
    require(!message.isEmpty && message.contains(file), "unclear error: '\(message)'")
}

func isTrainFlag(_ flag: String) -> Bool {
    !SweepGrid.reservedFlags.contains(flag) && !SweepGrid.dataFlags.contains(flag)
}

/// The first run that differs between two lists, for a failure message.
func difference(_ expected: [SweepRun], _ actual: [SweepRun]) -> String {
    guard let (a, b) = zip(expected, actual).first(where: { $0 != $1 }) else { return "\(expected.count) runs, \(actual.count) read back" }
    return "\(a) became \(b)"
}

/// Stops the run with `message` (an optimized build's `precondition` prints none).
func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fail(message()) }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("fuzz grid: \(message)\n".utf8))
    abort()
}

