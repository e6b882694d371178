#if canImport(Glibc)
import Glibc
#endif
import X86Decode

/// Which engine runs guest code when nothing needs attention (the slow path, one instruction at
/// a time, is shared): `interp` fetches each instruction through the soft TLB and the decoded
/// cache; `blocks` runs predecoded basic blocks (see CPU+Blocks.swift, docs/interpreter.md).
public enum ExecutionEngine: String, Sendable, CaseIterable {
    case interp, blocks
}

/// One predecoded instruction of a block: the decoded form (handlers read it in place, as
/// from the decoded cache) and the handler chosen for it at decode time. 24 bytes.
struct BlockOp {
    var instruction = DecodedInstruction()
    var handler: BlockHandler = .generic
    /// Register-register forms: destination | source << 3, so the handler does not look at the
    /// opcode's direction bit.
    var registers: UInt8 = 0
    /// A 32-bit ModRM memory operand, taken apart at decode time (`BlockAddress`): base and index
    /// register (8: none), scale shift, and the segment register it uses (overrides and the SS
    /// default for EBP/ESP bases applied).
    var address = BlockAddress()
}

/// How a 32-bit memory operand's offset is formed: base + (index << scale) + displacement.
struct BlockAddress {
    var base: UInt8 = 8
    var index: UInt8 = 8
    var scale: UInt8 = 0
    var segment: UInt8 = 3

    /// The form of `d`'s ModRM memory operand (32-bit addressing, mod != 3).
    init(_ d: DecodedInstruction) {
        let mod = d.modrm >> 6, rm = d.modrm & 7
        var seg: UInt8 = 3
        if rm == 4 {
            let b = d.sib & 7
            if !(b == 5 && mod == 0) {
                base = b
                if b == 4 || b == 5 { seg = 2 }
            }
            let i = (d.sib >> 3) & 7
            if i != 4 { index = i; scale = d.sib >> 6 }
        } else if !(rm == 5 && mod == 0) {
            base = rm
            if rm == 5 { seg = 2 }
        }
        if let o = d.segment.segmentNumber { seg = o }
        segment = seg
    }

    init() {}
}

/// A block: up to `BlockCache.maxOps` instructions from one page, run back to back.
///
///     key     physical address of the first byte | (CS.D << 32); UInt64.max = empty
///     stamp   the page's `CodePages` stamp when it was built (valid while they are equal)
///     count   instructions (0: the first one crosses the page end or does not decode, so
///             the interpreter runs it)
///     bytes   their total length (the CS limit is checked once for all of them)
///     linkEIP, link   the block that followed last time, when it started in the same page
///             (EIP and directory index): the next lookup starts there (chaining)
struct BlockHeader {
    var key: UInt64 = .max
    var stamp: UInt32 = 0
    var count: UInt16 = 0
    var bytes: UInt16 = 0
    var linkEIP: UInt32 = 1
    var link: Int32 = -1
}

/// The block directory: direct-mapped by physical address, allocated once; a new block evicts
/// the one in its slot. Ops of block i live at `ops + i * maxOps`.
struct BlockCache {
    /// 64 Ki slots: a booting Linux kernel runs more distinct blocks than 8 Ki slots held
    /// (its fork/exec loop rebuilt one block in 21 it entered; decoding took 15% of the time).
    static let slotBits = 16
    static let slots = 1 << slotBits
    static let maxOps = 32
    static let opsShift = 5
    let headers: UnsafeMutablePointer<BlockHeader>
    let ops: UnsafeMutablePointer<BlockOp>

    static let opsBytes = slots * maxOps * MemoryLayout<BlockOp>.stride

    init() {
        headers = .allocate(capacity: Self.slots)
        headers.initialize(repeating: BlockHeader(), count: Self.slots)
        // 48 MiB of ops, mapped lazily: a CPU that never runs blocks (a test, the interpreter
        // engine) touches none of it. All-zero bytes are a valid BlockOp.
        guard let p = mmap(nil, Self.opsBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              p != MAP_FAILED else { fatalError("cannot reserve the block cache") }
        ops = p.bindMemory(to: BlockOp.self, capacity: Self.slots * Self.maxOps)
    }

    func deallocate() {
        headers.deallocate()
        munmap(UnsafeMutableRawPointer(ops), Self.opsBytes)
    }

    /// Multiplicative hash of the physical address (blocks start at any byte).
    @inline(__always) static func index(_ phys: UInt32) -> Int {
        Int((phys &* 0x9E37_79B1) >> UInt32(32 - slotBits))
    }
}

/// What the block engine remembers between blocks of one run: the block that just ran to its
/// end with no break (so the TLB is as when it was entered), and the linear page, physical page
/// and TLB bank it was entered with (a link to the next block is used only if they still hold).
struct BlockChain {
    var previous = -1
    var linearPage: UInt32 = 1
    var physPage: UInt32 = 0
    var bank = 0
}

/// The block engine's counters (`--stats`; not in `--stats-json`, which stays the same for both
/// engines).
public struct BlockStats: Sendable, Equatable {
    /// Blocks decoded (a rebuild after an invalidation or an eviction counts again).
    public var built: UInt64 = 0
    /// Times a block was entered.
    public var executions: UInt64 = 0
    /// Instructions run inside blocks (÷ executions = the average block length run).
    public var instructions: UInt64 = 0
    /// Entries found through the previous block's link instead of the TLB and the directory.
    public var chained: UInt64 = 0
    /// Instructions the engine handed to the interpreter (a code-TLB miss, an instruction that
    /// crosses a page or the CS limit, undecodable bytes).
    public var interpreted: UInt64 = 0
    public init() {}
}
