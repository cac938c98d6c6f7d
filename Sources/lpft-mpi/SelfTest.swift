import ArgumentParser
import Distributed
import Foundation
import Model

struct SelfTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftest",
        abstract: "Checks that the ranks of this job talk correctly (run it on a new cluster first).",
        subcommands: [SelfTestComm.self])
}

struct SelfTestComm: RankCommand {
    static let configuration = CommandConfiguration(
        commandName: "comm",
        abstract: "Exact checks of allreduce, reduce, broadcast, gatherv, allgatherv, send/recv, exchange and block exchange across ranks.",
        discussion: """
            Every rank contributes integer-valued data of a different length, so each result is \
            known exactly. --chunk-limit forces the chunked (large-count) code paths with small \
            buffers. --rounds N first runs N exact allreduce rounds (a long loop to pull cables or \
            kill hosts under). --fail-rank/--fail-after make one rank throw inside the allreduce \
            loop to show that a failing rank stops the whole job.
            """)

    @OptionGroup var job: JobOptions

    @Option(parsing: .unconditional, help: "Largest element count per MPI call (default: INT_MAX).")
    var chunkLimit: Int64?
    @Option(parsing: .unconditional, help: "Base length of each rank's buffer.")
    var length = 1000
    @Option(parsing: .unconditional, help: "Rank that throws an error during the allreduce loop (fault drill).")
    var failRank: Int?
    @Option(parsing: .unconditional, help: "Allreduce iterations before --fail-rank throws.")
    var failAfter = 3
    @Option(parsing: .unconditional, help: "Exact allreduce rounds of --length floats to run before the other checks.")
    var rounds = 0
    @Option(parsing: .unconditional, help: .hidden)  // stall drill: this rank sleeps forever instead of entering a collective
    var stallRank: Int?
    @Option(parsing: .unconditional, help: .hidden)  // allreduce rounds before --stall-rank stops arriving
    var stallAfter = 3

    func validate() throws {
        if let chunkLimit { try Check.integer("--chunk-limit", Int(clamping: chunkLimit), in: 1...Int(Int32.max)) }
        try Check.integer("--length", length, in: 1...(1 << 26))
        try Check.integer("--fail-after", failAfter, in: 0...1_000_000)
        try Check.integer("--rounds", rounds, in: 0...100_000_000)
        try Check.integer("--stall-after", stallAfter, in: 0...1_000_000)
    }

    struct Mismatch: Error, LocalizedError {
        let what: String
        var errorDescription: String? { "selftest comm: \(what)" }
    }

    func run(comm: Communicator) throws {
        comm.setChunkLimit(chunkLimit)
        let p = comm.size, r = comm.rank
        func expect(_ ok: Bool, _ what: @autoclosure () -> String) throws {
            if !ok { throw Mismatch(what: what()) }
        }

        for (name, drillRank) in [("--fail-rank", failRank), ("--stall-rank", stallRank)] {
            if let drillRank { try Check.integer(name, drillRank, in: 0...(p - 1), hint: "this job has \(p) rank(s), numbered from 0") }
        }
        if failRank != nil || stallRank != nil {
            // Fault drills: every rank loops in allreduce until the injected fault stops the job.
            try allreduceRounds(comm, count: 1_000_000)
            return
        }
        if rounds > 0 { try allreduceRounds(comm, count: rounds) }

        // Allreduce: rank r holds (r+1)·(i mod 97) → sum = (i mod 97)·P(P+1)/2, exact in float.
        let tri = Double(p * (p + 1) / 2)
        var f = (0..<length).map { Float((r + 1) * ($0 % 97)) }
        try comm.allreduceSum(&f)
        for i in f.indices { try expect(Double(f[i]) == Double(i % 97) * tri, "float allreduce at \(i): \(f[i])") }
        var d = (0..<length).map { Double(r + 1) * Double($0) + 0.5 }
        try comm.allreduceSum(&d)
        for i in d.indices { try expect(d[i] == tri * Double(i) + 0.5 * Double(p), "double allreduce at \(i): \(d[i])") }

        // Gradient buckets: three buffers summed in the background while a blocking collective
        // runs on the world communicator meanwhile, then waited for (twice, as two steps); the
        // third time as bfloat16 on the wire, with values whose sums bf16 holds exactly
        // (whole numbers up to 256).
        for round in 0..<3 {
            let bf16 = round == 2, modulus = bf16 ? 7 : 89
            comm.setBucketSumsInBF16(bf16)
            defer { comm.setBucketSumsInBF16(false) }
            let sizes = [length, 1, length / 3 + 7]
            let buffers = sizes.map { n in UnsafeMutableBufferPointer<Float>.allocate(capacity: n) }
            defer { buffers.forEach { $0.deallocate() } }
            for (k, buffer) in buffers.enumerated() {
                for i in buffer.indices { buffer[i] = Float((r + 1) * ((i + k + round) % modulus)) }
                try comm.startBucketSum(buffer)
            }
            try expect(try comm.allreduceSum(Double(r + 1)) == tri, "allreduce while buckets are in flight")
            try comm.waitForBucketSums()
            for (k, buffer) in buffers.enumerated() {
                for i in buffer.indices {
                    try expect(Double(buffer[i]) == Double((i + k + round) % modulus) * tri,
                               "gradient bucket \(k)\(bf16 ? " (bf16)" : "") at \(i): \(buffer[i])")
                }
            }
        }

        // Reduce to the last rank: the same sums there, every other rank's buffer unchanged.
        let root = p - 1
        var reduced = (0..<length).map { Double(r + 1) * Double($0) + 0.5 }
        try comm.reduceSum(&reduced, root: root)
        for i in reduced.indices {
            let expected = r == root ? tri * Double(i) + 0.5 * Double(p) : Double(r + 1) * Double(i) + 0.5
            try expect(reduced[i] == expected, "double reduce to rank \(root) at \(i): \(reduced[i])")
        }

        // Broadcast from the last rank, typed and as bytes of unknown length.
        var b = (0..<length).map { r == root ? Double($0) * 3 : -1 }
        try b.withUnsafeMutableBufferPointer { try comm.broadcast($0, root: root) }
        for i in b.indices { try expect(b[i] == Double(i) * 3, "broadcast at \(i): \(b[i])") }
        let message = try comm.broadcast(string: r == root ? String(repeating: "lpft-", count: length / 5 + 1) : "", root: root)
        try expect(message == String(repeating: "lpft-", count: length / 5 + 1), "string broadcast")

        // Gatherv / allgatherv: rank r sends length + 3r values r·1e6 + i (uneven counts).
        func block(_ rank: Int) -> [Double] { (0..<(length + 3 * rank)).map { Double(rank) * 1e6 + Double($0) } }
        let expected = (0..<p).flatMap(block)
        let gathered = try comm.gatherv(block(r), root: 0)
        if r == 0 { try expect(gathered == expected, "gatherv result") } else { try expect(gathered == nil, "gatherv off-root") }
        let all = try comm.allgatherv(block(r).map(Float.init))
        try expect(all == expected.map(Float.init), "allgatherv result")
        let ints = try comm.allgatherv([Int64](repeating: Int64(r), count: r))  // rank 0 sends nothing
        try expect(ints == (0..<p).flatMap { [Int64](repeating: Int64($0), count: $0) }, "allgatherv with an empty block")

        // Ring send/recv.
        if p > 1 {
            let next = (r + 1) % p, prev = (r + p - 1) % p
            let out = [Int64](repeating: Int64(r), count: length)
            if r % 2 == 0 {
                try comm.send(out, to: next, tag: 5)
                let got: [Int64] = try comm.recv(count: length, from: prev, tag: 5)
                try expect(got.allSatisfy { $0 == Int64(prev) }, "recv from \(prev)")
            } else {
                let got: [Int64] = try comm.recv(count: length, from: prev, tag: 5)
                try comm.send(out, to: next, tag: 5)
                try expect(got.allSatisfy { $0 == Int64(prev) }, "recv from \(prev)")
            }
        }
        // Pairwise exchange (0↔1, 2↔3, …) with uneven counts: rank r sends length + r values
        // r·1e6 + i and receives its partner's; a rank without a partner sits it out.
        let partner = r ^ 1
        if partner < p {
            let out = (0..<(length + r)).map { Int64(r) * 1_000_000 + Int64($0) }
            var got = [Int64](repeating: -1, count: length + partner)
            try out.withUnsafeBufferPointer { o in
                try got.withUnsafeMutableBufferPointer { try comm.exchange(o, into: $0, with: partner, tag: 6) }
            }
            try expect(got == (0..<(length + partner)).map { Int64(partner) * 1_000_000 + Int64($0) }, "exchange with \(partner)")
        }
        // Block exchange (all to all): rank r sends rank q a block of length + r + 2q values
        // r·1e6 + q·1e3 + i (nothing to q = r + 1, to check empty blocks) and receives each rank's.
        func blockLength(from sender: Int, to receiver: Int) -> Int { receiver == sender + 1 ? 0 : length + sender + 2 * receiver }
        let outgoing = (0..<p).map { q in
            let block = UnsafeMutableBufferPointer<Int64>.allocate(capacity: blockLength(from: r, to: q))
            for i in block.indices { block[i] = Int64(r) * 1_000_000 + Int64(q) * 1000 + Int64(i) }
            return block
        }
        let incoming = (0..<p).map { q in
            let block = UnsafeMutableBufferPointer<Int64>.allocate(capacity: blockLength(from: q, to: r))
            block.initialize(repeating: -1)
            return block
        }
        defer { (outgoing + incoming).forEach { $0.deallocate() } }
        try comm.exchangeBlocks(outgoing.map { UnsafeBufferPointer($0) }, into: incoming, tag: 7)
        for q in 0..<p {
            try expect(Array(incoming[q]) == (0..<blockLength(from: q, to: r)).map { Int64(q) * 1_000_000 + Int64(r) * 1000 + Int64($0) },
                       "block from \(q)")
        }
        try comm.barrier()
        printRoot(comm, "selftest comm: OK (ranks \(p), chunk limit \(comm.chunkLimit))")
    }

    /// `count` rounds of an exact float allreduce (rank r contributes r + 1 everywhere), with the
    /// --fail-rank / --stall-rank faults injected. Rank 0 prints one line once the first round
    /// completed, so a fault test knows the loop is running.
    private func allreduceRounds(_ comm: Communicator, count: Int) throws {
        let p = comm.size, r = comm.rank
        let expected = Float(p * (p + 1) / 2)
        var x = [Float](repeating: 0, count: length)
        for round in 0..<count {
            comm.stallContext = "selftest comm: allreduce round \(round)"
            if r == failRank && round == failAfter {
                throw Mismatch(what: "injected failure on rank \(r) at allreduce iteration \(round)")
            }
            if r == stallRank && round == stallAfter {
                FileHandle.standardError.write(Data("rank \(r): stall drill: sleeping instead of entering allreduce round \(round)\n".utf8))
                while true { Thread.sleep(forTimeInterval: 3600) }
            }
            for j in x.indices { x[j] = Float(r + 1) }
            try comm.allreduceSum(&x)
            guard x.allSatisfy({ $0 == expected }) else {
                throw Mismatch(what: "allreduce round \(round): expected \(expected) everywhere")
            }
            if round == 0 { printRoot(comm, "selftest comm: allreduce rounds running (ranks \(p), \(length) floats)") }
        }
    }
}
