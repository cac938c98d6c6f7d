import Model

extension Trainer {
    /// Replaces the gradients in `range` by their average over the ranks. Only what can be
    /// nonzero travels: everything outside the word-embedding table plus the table rows some
    /// rank touched (the caller has made `model.touchedRows` the union over ranks, so every
    /// rank sends the same pieces). For MiniLM the table is half of the arena and a batch
    /// touches a few hundred of its 30,522 rows, so this halves the bytes of FT's allreduce.
    /// Large pieces are reduced in place, the small ones (single rows) packed into one buffer.
    func averageGradientsOverRanks(range: Range<Int>) throws {
        let gradients = model.parameters.gradients
        let pieces = model.touchedRows.gradientRanges(within: range)
        let packLimit = 1 << 16
        for piece in pieces where piece.count >= packLimit {
            try comm.allreduceSum(UnsafeMutableBufferPointer(rebasing: gradients[piece]))
        }
        let small = pieces.filter { $0.count < packLimit }
        if !small.isEmpty {
            var packed: [Float] = []
            packed.reserveCapacity(small.reduce(0) { $0 + $1.count })
            for piece in small { packed.append(contentsOf: gradients[piece]) }
            try comm.allreduceSum(&packed)
            var offset = 0
            for piece in small {
                _ = UnsafeMutableBufferPointer(rebasing: gradients[piece]).update(from: packed[offset..<(offset + piece.count)])
                offset += piece.count
            }
        }
        let scale = 1 / Float(comm.size)
        for piece in pieces {
            let g = UnsafeMutableBufferPointer(rebasing: gradients[piece])
            Parallel.forRanges(g.count, grain: 1 << 15) { r in for i in r { g[i] *= scale } }
        }
    }
}
