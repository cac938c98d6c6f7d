import Foundation
import Yams

/// A grid file: tasks × methods × hyperparameters × seeds, with per-method overrides.
///
///     # grid.yaml (JSON works too: the same keys)
///     tasks: [sentiment-ood]          # built-in tasks, or maps of data flags:
///                                     #   {name: amazon, train: a.tsv, test: b.tsv, format: boss, ood: [x=c.tsv]}
///     methods: [lp, ft, lp-ft, lora, lp-lora]
///     seeds: [1001, 2002, 3003]
///     parameters:                     # `lpft-mpi train` flags: a value is fixed, a list is an axis
///       epochs: 10
///       batch-size: 16
///       lr: [1e-5, 5e-5]
///     overrides:                      # per method: replaces parameters; null removes one
///       lora:    {lr: [5e-4, 1e-3]}
///       lp-lora: {lr: 5e-4}
///       lp:      {lr: null, epochs: null}
///
/// Every combination becomes one run; runs with equal command lines are one run.
public struct SweepGrid: Sendable, Equatable {
    public var name: String?
    public var tasks: [SweepTask]
    public var methods: [TrainingMethod]
    public var seeds: [UInt64]
    /// Flag → values; one value is fixed, several form an axis of the grid.
    public var parameters: [String: [FlagValue]]
    /// Method → flag → values (nil removes the flag for that method).
    public var overrides: [TrainingMethod: [String: [FlagValue]?]]
    /// Where each setting stands in the grid file ("grid.yaml:7:3"), for messages: keys are
    /// `flag` (parameters), `method/flag` (overrides) and `task:name/flag` (task maps).
    public var locations: [String: String] = [:]

    public init(name: String? = nil, tasks: [SweepTask], methods: [TrainingMethod], seeds: [UInt64],
                parameters: [String: [FlagValue]] = [:], overrides: [TrainingMethod: [String: [FlagValue]?]] = [:]) {
        self.name = name
        self.tasks = tasks
        self.methods = methods
        self.seeds = seeds
        self.parameters = parameters
        self.overrides = overrides
    }

    /// Flags that a grid may not set: the sweep sets them, or they belong in `tasks`.
    public static let reservedFlags: Set<String> = ["out", "resume", "quiet", "method", "seed"]
    /// Data flags of `lpft-mpi train`: allowed in a task map only.
    public static let dataFlags: Set<String> = ["task", "train", "validation", "test", "ood", "format",
                                                "text-column", "text-pair-column", "label-column"]

    /// Most runs `sweep plan` expands a grid to unless told otherwise (`--max-runs`).
    public static let defaultRunLimit = 10_000

    /// Parameters of `method`'s runs: the grid's, with the method's overrides applied.
    func resolvedParameters(for method: TrainingMethod) -> [String: [FlagValue]] {
        var resolved = parameters
        for (flag, values) in overrides[method] ?? [:] {
            if let values { resolved[flag] = values } else { resolved[flag] = nil }
        }
        return resolved
    }

    /// How many runs the grid expands to before duplicates are removed, computed from the axis
    /// lengths without expanding (saturates at Int.max), so that a huge grid is refused early.
    public var combinationCount: Int {
        func times(_ a: Int, _ b: Int) -> Int {
            let (product, overflow) = a.multipliedReportingOverflow(by: b)
            return overflow ? Int.max : product
        }
        var total = 0
        for method in methods {
            let perMethod = resolvedParameters(for: method).values.reduce(times(tasks.count, seeds.count)) { times($0, $1.count) }
            let (sum, overflow) = total.addingReportingOverflow(perMethod)
            total = overflow ? Int.max : sum
        }
        return total
    }

    /// Where the value of `flag` for a run of `method` on `task` comes from in the grid file.
    public func location(of flag: String, method: TrainingMethod, task: String) -> String? {
        locations["task:\(task)/\(flag)"] ?? locations["\(method.rawValue)/\(flag)"] ?? locations[flag]
    }

    /// The runs of the grid in a fixed order (task, method, parameter combination, seed),
    /// duplicates (equal command lines) removed. A grid of more than `limit` combinations is
    /// refused before any run is made (a few short lists multiply fast; a typo such as a
    /// 1000-element list should not fill the memory or a cluster queue).
    /// `source` names the grid file in that error.
    public func expand(limit: Int = SweepGrid.defaultRunLimit, source: String = "grid") throws -> [SweepRun] {
        let count = combinationCount
        guard count <= limit else {
            let axes = methods.map { method -> String in
                let lengths = resolvedParameters(for: method).filter { $0.value.count > 1 }
                    .sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.count)" }
                return "\(method.rawValue): " + (lengths.isEmpty ? "no parameter axes" : lengths.joined(separator: " × "))
            }
            let total = count == Int.max ? "more than \(Int.max)" : String(count)
            throw SweepError.invalidGrid(
                location: source,
                message: "the grid expands to \(total) runs, more than the limit of \(limit) "
                    + "(\(tasks.count) task(s) × \(seeds.count) seed(s) × parameter axes per method — \(axes.joined(separator: "; "))); "
                    + "shorten its lists, or raise the limit with `sweep plan --max-runs N` if you mean it")
        }
        var runs: [SweepRun] = []
        var seen: Set<String> = []
        for task in tasks {
            for method in methods {
                for combination in Self.combinations(resolvedParameters(for: method)) {
                    for seed in seeds {
                        let run = SweepRun(task: task, method: method, seed: seed, parameters: combination)
                        if seen.insert(run.id).inserted { runs.append(run) }
                    }
                }
            }
        }
        return runs
    }

    /// The cartesian product of the axes, keys in sorted order (the first key varies slowest).
    static func combinations(_ axes: [String: [FlagValue]]) -> [[String: FlagValue]] {
        var result: [[String: FlagValue]] = [[:]]
        for key in axes.keys.sorted() {
            let values = axes[key] ?? []
            result = result.flatMap { partial in
                values.map { value in var next = partial; next[key] = value; return next }
            }
        }
        return result
    }
}

/// The data of a sweep's runs: a built-in task, or data files given as `train` flags.
public struct SweepTask: Sendable, Equatable {
    /// Short name used in run ids and reports.
    public var name: String
    /// Data flags (task, train, test, ood, format, ...) → values (a list repeats the flag).
    public var flags: [String: [FlagValue]]

    public init(name: String, flags: [String: [FlagValue]]) {
        self.name = name
        self.flags = flags
    }

    /// A built-in task (`--task NAME`).
    public static func builtin(_ name: String) -> SweepTask {
        SweepTask(name: name, flags: ["task": [.text(name)]])
    }
}

/// One run of a sweep: a line of manifest.jsonl.
public struct SweepRun: Codable, Sendable, Equatable {
    /// `<task>-<method>-s<seed>-<hash>`: the hash (FNV-1a 64 of the canonical JSON of
    /// `arguments`) makes equal command lines share an id and different ones differ.
    public var id: String
    public var task: String
    public var method: String
    public var seed: UInt64
    /// Hyperparameters of this run (fixed and swept), by flag name.
    public var parameters: [String: FlagValue]
    /// `lpft-mpi train` arguments without --out, --resume and --quiet (the runner adds them).
    public var arguments: [String]

    public init(task: SweepTask, method: TrainingMethod, seed: UInt64, parameters: [String: FlagValue]) {
        var arguments: [String] = []
        func add(_ flag: String, _ value: FlagValue) {
            switch value {
            case .toggle(true): arguments.append("--\(flag)")
            case .toggle(false): break
            default: arguments += ["--\(flag)", value.description]
            }
        }
        for flag in task.flags.keys.sorted() { for value in task.flags[flag] ?? [] { add(flag, value) } }
        arguments += ["--method", method.rawValue, "--seed", String(seed)]
        for (flag, value) in parameters.sorted(by: { $0.key < $1.key }) { add(flag, value) }
        self.task = task.name
        self.method = method.rawValue
        self.seed = seed
        self.parameters = parameters
        self.arguments = arguments
        self.id = Self.makeID(task: task.name, method: method.rawValue, seed: seed, arguments: arguments)
    }

    static func makeID(task: String, method: String, seed: UInt64, arguments: [String]) -> String {
        let canonical = CanonicalJSON.array(arguments.map(CanonicalJSON.quote))
        let readable = "\(task)-\(method)-s\(seed)".map { c -> Character in
            c.isASCII && (c.isLetter || c.isNumber || c == "-" || c == "_" || c == ".") ? c : "_"
        }
        return String(readable) + "-" + FNV1a64.hex(canonical).prefix(10)
    }
}

// MARK: Reading grid files

extension SweepGrid {
    /// Reads a grid file (YAML, or JSON — YAML's subset).
    public static func load(_ url: URL) throws -> SweepGrid {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw SweepError.unreadable(path: url.path, reason: "\(error.localizedDescription); check the path")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw SweepError.invalidGrid(location: url.path, message: "not UTF-8 text; save the grid file as UTF-8")
        }
        return try parse(text, source: url.path)
    }

    /// Parses grid text; `source` names the file in errors (`grid.yaml:12:3: ...`).
    public static func parse(_ text: String, source: String) throws -> SweepGrid {
        try checkNesting(text, source: source)
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw SweepError.invalidGrid(location: source, message: "not valid YAML or JSON: \(error)")
        }
        guard let root, let top = root.mapping else {
            throw SweepError.invalidGrid(location: source, message: "expected a mapping with tasks, methods, seeds, parameters, overrides")
        }
        let reader = GridReader(source: source)
        var grid = SweepGrid(tasks: [], methods: [], seeds: [])
        var seenKeys: Set<String> = []
        for (keyNode, value) in top {
            let key = try reader.key(keyNode)
            seenKeys.insert(key)
            switch key {
            case "name": grid.name = try reader.scalar(value).description
            case "tasks":
                grid.tasks = try reader.list(value).map { node in
                    let task = try reader.task(node)
                    for (flag, location) in reader.locations(node) { grid.locations["task:\(task.name)/\(flag)"] = location }
                    return task
                }
            case "methods": grid.methods = try reader.list(value).map { try reader.method($0) }
            case "seeds": grid.seeds = try reader.list(value).map { try reader.seed($0) }
            case "parameters":
                grid.parameters = try reader.parameters(value, allowNull: false).compactMapValues { $0 }
                for (flag, location) in reader.locations(value) { grid.locations[flag] = location }
            case "overrides":
                guard let mapping = value.mapping else { throw reader.error(value, "overrides must map method names to parameter maps") }
                for (methodNode, body) in mapping {
                    let method = try reader.method(methodNode)
                    grid.overrides[method] = try reader.parameters(body, allowNull: true)
                    for (flag, location) in reader.locations(body) { grid.locations["\(method.rawValue)/\(flag)"] = location }
                }
            default:
                throw reader.error(keyNode, "unknown key '\(key)'; expected name, tasks, methods, seeds, parameters, overrides")
            }
        }
        for required in ["tasks", "methods", "seeds"] where !seenKeys.contains(required) {
            throw SweepError.invalidGrid(location: source, message: "missing '\(required)' (a non-empty list)")
        }
        for (key, list) in [("tasks", grid.tasks.count), ("methods", grid.methods.count), ("seeds", grid.seeds.count)] where list == 0 {
            throw SweepError.invalidGrid(location: source, message: "'\(key)' is empty; give at least one")
        }
        let taskNames = grid.tasks.map(\.name)
        if Set(taskNames).count != taskNames.count {
            throw SweepError.invalidGrid(location: source, message: "task names repeat (\(taskNames.joined(separator: ", "))); give each task map a distinct name")
        }
        return grid
    }
}

// MARK: Nesting

extension SweepGrid {
    /// '[' and '{' a grid may contain (each can open one more level of flow nesting).
    static let maximumFlowCollections = 400
    /// Block nesting a grid may reach on a line (bounded by its indentation and indicators).
    static let maximumBlockLevels = 128

    /// Refuses text that could nest deeper than a grid needs, before Yams sees it: Yams builds
    /// nodes recursively, so a file nested a few thousand levels deep would overflow the stack
    /// instead of failing cleanly. Checks an upper bound, not the exact depth (exact would need
    /// YAML's own scanner): flow collections nest at most once per '[' or '{' anywhere in the
    /// text; block collections open at increasing columns (a mapping and its indentless
    /// sequence may share one), so on a line at most 2 · (indentation + '- '/'? ' indicators) + 3.
    static func checkNesting(_ text: String, source: String) throws {
        var flowCollections = 0
        var line = 1, indentation = 0, indicators = 0, atIndentation = true, hasContent = false
        var previous: Unicode.Scalar = "\n"
        func endLine() throws {
            let levels = 2 * (indentation + indicators) + 3
            if hasContent && levels > maximumBlockLevels {
                throw SweepError.invalidGrid(location: "\(source):\(line)", message: "indented too deeply: its indentation and '- '/'? ' indicators allow \(levels) levels of nesting (at most \(maximumBlockLevels)); a grid needs a few levels, indent less")
            }
        }
        for scalar in text.unicodeScalars {
            let isBreak = scalar == "\n" || scalar == "\r" || scalar == "\u{85}" || scalar == "\u{2028}" || scalar == "\u{2029}"
            let isBlank = isBreak || scalar == " " || scalar == "\t"
            if isBlank && (previous == "-" || previous == "?") { indicators += 1 }
            if isBreak {
                try endLine()
                if !(scalar == "\n" && previous == "\r") { line += 1 }
                indentation = 0; indicators = 0; atIndentation = true; hasContent = false
            } else if isBlank {
                if atIndentation { indentation += 1 }
            } else {
                atIndentation = false
                hasContent = true
            }
            if scalar == "[" || scalar == "{" { flowCollections += 1 }
            previous = scalar
        }
        if previous == "-" || previous == "?" { indicators += 1 }
        try endLine()
        if flowCollections > maximumFlowCollections {
            throw SweepError.invalidGrid(location: source, message: "\(flowCollections) '[' and '{' (at most \(maximumFlowCollections)): each may nest one level deeper, and a grid needs a few; write long lists as block lists ('- item' lines)")
        }
    }
}

/// Turns YAML nodes into grid values, with file:line:column in every error.
struct GridReader {
    let source: String

    func error(_ node: Node, _ message: String) -> SweepError {
        .invalidGrid(location: location(node), message: message)
    }

    func location(_ node: Node) -> String {
        node.mark.map { "\(source):\($0.line):\($0.column)" } ?? source
    }

    /// Key → where its value stands, for the keys of a mapping node (none for other nodes).
    func locations(_ node: Node) -> [String: String] {
        guard let mapping = node.mapping else { return [:] }
        var result: [String: String] = [:]
        for (key, value) in mapping { if let name = key.scalar?.string { result[name] = location(value) } }
        return result
    }

    func key(_ node: Node) throws -> String {
        guard let scalar = node.scalar else { throw error(node, "keys must be plain names") }
        return scalar.string
    }

    func list(_ node: Node) throws -> [Node] {
        if let sequence = node.sequence { return Array(sequence) }
        if node.scalar != nil || node.mapping != nil { return [node] }
        throw error(node, "expected a list")
    }

    /// A scalar as a canonical flag value (nil for YAML null).
    func optionalScalar(_ node: Node) throws -> FlagValue? {
        guard let scalar = node.scalar else { throw error(node, "expected a single value, not a list or map") }
        // The resolved tag (YAML's core schema) decides null, bool, int and float.
        switch node.tag.description {
        case Tag.Name.null.rawValue: return nil
        case Tag.Name.bool.rawValue: return .toggle(node.bool ?? false)
        case Tag.Name.int.rawValue: if let i = node.int { return .integer(i) }
        case Tag.Name.float.rawValue: if let x = node.float, x.isFinite { return .number(x) }
        default: break
        }
        return .parsing(scalar.string)
    }

    func scalar(_ node: Node) throws -> FlagValue {
        guard let value = try optionalScalar(node) else { throw error(node, "a value is needed here, not null") }
        return value
    }

    func method(_ node: Node) throws -> TrainingMethod {
        let name = try scalar(node).description
        guard let method = TrainingMethod(rawValue: name) else {
            throw error(node, "unknown method '\(name)'; expected one of \(TrainingMethod.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return method
    }

    func seed(_ node: Node) throws -> UInt64 {
        guard case let .integer(i) = try scalar(node), i >= 0 else { throw error(node, "seeds must be whole numbers ≥ 0") }
        return UInt64(i)
    }

    func flagName(_ node: Node) throws -> String {
        let name = try key(node)
        let allowed = name.allSatisfy { ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "-" }
        guard allowed, !name.isEmpty, !name.hasPrefix("-") else {
            throw error(node, "'\(name)' is not a flag name; write train flags without dashes, e.g. batch-size")
        }
        return name
    }

    /// A task: a built-in name, or a map of data flags with a `name`.
    func task(_ node: Node) throws -> SweepTask {
        if node.scalar != nil { return .builtin(try scalar(node).description) }
        guard let mapping = node.mapping else { throw error(node, "a task is a built-in name or a map of data flags") }
        var name: String?
        var flags: [String: [FlagValue]] = [:]
        for (keyNode, value) in mapping {
            let flag = try flagName(keyNode)
            if flag == "name" { name = try scalar(value).description; continue }
            guard SweepGrid.dataFlags.contains(flag) else {
                throw error(keyNode, "'\(flag)' is not a data flag; a task map takes name and \(SweepGrid.dataFlags.sorted().joined(separator: ", "))")
            }
            flags[flag] = try list(value).map { try scalar($0) }
        }
        guard let name = name ?? flags["task"]?.first?.description else {
            throw error(node, "a task map needs a 'name' (used in run ids and reports)")
        }
        return SweepTask(name: name, flags: flags)
    }

    /// A map flag → value or list of values (null allowed in overrides).
    func parameters(_ node: Node, allowNull: Bool) throws -> [String: [FlagValue]?] {
        guard let mapping = node.mapping else { throw error(node, "expected a map of train flags to values or lists") }
        var result: [String: [FlagValue]?] = [:]
        for (keyNode, value) in mapping {
            let flag = try flagName(keyNode)
            if SweepGrid.reservedFlags.contains(flag) {
                throw error(keyNode, "'\(flag)' is set by the sweep itself; \(flag == "method" ? "list methods under 'methods'" : flag == "seed" ? "list seeds under 'seeds'" : "remove it")")
            }
            if SweepGrid.dataFlags.contains(flag) {
                throw error(keyNode, "'\(flag)' chooses data; put it in a task map under 'tasks'")
            }
            if value.scalar != nil, try optionalScalar(value) == nil {
                guard allowNull else { throw error(value, "null is only allowed in overrides (to remove a parameter)") }
                result[flag] = .some(nil)
                continue
            }
            let values = try list(value).map { try scalar($0) }
            guard !values.isEmpty else { throw error(value, "'\(flag)' has an empty list; give at least one value") }
            result[flag] = values
        }
        return result
    }
}
