import CCapstone
import X86Decode

/// Capstone 4 (the system library) decoding one instruction at a time into a reused
/// `cs_insn`, so a differential run of millions of encodings does not allocate per call.
public final class Capstone {
    private var handle: csh = 0
    private let instruction: UnsafeMutablePointer<cs_insn>
    public let mode: CodeMode

    public struct OpenError: Error, CustomStringConvertible {
        public let description: String
    }

    /// - Parameter detail: turn on CS_OPT_DETAIL (operand details), as the benchmark's reference does.
    public init(mode: CodeMode, detail: Bool = false) throws(OpenError) {
        self.mode = mode
        let csMode = mode == .bits32 ? CS_MODE_32 : CS_MODE_16
        let status = cs_open(CS_ARCH_X86, csMode, &handle)
        guard status == CS_ERR_OK else {
            throw OpenError(description: "capstone: cs_open failed (\(status.rawValue))")
        }
        if detail { cs_option(handle, CS_OPT_DETAIL, Int(CS_OPT_ON.rawValue)) }
        instruction = cs_malloc(handle)
    }

    deinit {
        cs_free(instruction, 1)
        cs_close(&handle)
    }

    /// Capstone's library version, e.g. "4.0".
    public static var version: String {
        var major: Int32 = 0
        var minor: Int32 = 0
        _ = cs_version(&major, &minor)
        return "\(major).\(minor)"
    }

    /// Decodes one instruction; on success the text is in `mnemonic`/`operands`.
    /// - Returns: the length, or nil when Capstone rejects the bytes.
    public func decode(_ bytes: UnsafePointer<UInt8>, count: Int, address: UInt64) -> Int? {
        var code: UnsafePointer<UInt8>? = bytes
        var size = count
        var addr = address
        guard cs_disasm_iter(handle, &code, &size, &addr, instruction) else { return nil }
        return Int(instruction.pointee.size)
    }

    /// Pointer to the last decoded instruction's mnemonic (NUL-terminated).
    public var mnemonicPointer: UnsafePointer<CChar> {
        UnsafeRawPointer(instruction).advanced(by: MemoryLayout<cs_insn>.offset(of: \cs_insn.mnemonic)!)
            .assumingMemoryBound(to: CChar.self)
    }

    /// Pointer to the last decoded instruction's operand string (NUL-terminated).
    public var operandsPointer: UnsafePointer<CChar> {
        UnsafeRawPointer(instruction).advanced(by: MemoryLayout<cs_insn>.offset(of: \cs_insn.op_str)!)
            .assumingMemoryBound(to: CChar.self)
    }

    /// The last decoded instruction as `mnemonic op_str`.
    public var text: String {
        let m = String(cString: mnemonicPointer)
        let o = String(cString: operandsPointer)
        return o.isEmpty ? m : m + " " + o
    }

    /// True when the last decoded instruction's `mnemonic op_str` equals `bytes[0..<count]`.
    public func textEquals(_ bytes: UnsafePointer<UInt8>, count: Int) -> Bool {
        var i = 0
        var p = UnsafeRawPointer(mnemonicPointer).assumingMemoryBound(to: UInt8.self)
        while p.pointee != 0 {
            if i >= count || bytes[i] != p.pointee { return false }
            i += 1; p += 1
        }
        p = UnsafeRawPointer(operandsPointer).assumingMemoryBound(to: UInt8.self)
        if p.pointee != 0 {
            if i >= count || bytes[i] != 0x20 { return false }
            i += 1
            while p.pointee != 0 {
                if i >= count || bytes[i] != p.pointee { return false }
                i += 1; p += 1
            }
        }
        return i == count
    }
}
