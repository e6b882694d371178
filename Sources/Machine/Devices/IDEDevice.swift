/// One ATA device position on an IDE channel (master or slave), per ATA/ATAPI-6 (T13 1410D),
/// with or without a disk image behind it.
///
/// The command block registers are written by the host to both positions of a channel at once
/// (ATA-6 §7), so each position keeps its own copy, present or not; a command runs only on the
/// selected position, and only if a disk is there. Each register keeps the value written before
/// the last one (the "high order byte" for 48-bit commands, read back with the Device Control
/// register's HOB bit, ATA-6 §7, Device Control).
///
/// Transfers are PIO and synchronous: a command's data is ready (DRQ) the moment the command is
/// written, so BSY is never seen set except during a software reset. Status and error bits:
/// ATA-6 §7, Status and Error registers.
final class IDEDevice {
    // Status register bits (ATA-6 §7, Status register).
    static let bsy: UInt8 = 0x80
    static let drdy: UInt8 = 0x40
    static let dsc: UInt8 = 0x10  // "device seek complete": set by every completed command, as QEMU
    static let drq: UInt8 = 0x08
    static let err: UInt8 = 0x01
    // Error register bits (ATA-6 §7, Error register).
    static let abrt: UInt8 = 0x04
    static let idnf: UInt8 = 0x10
    static let unc: UInt8 = 0x40

    /// The largest READ/WRITE MULTIPLE block (IDENTIFY word 47), and the setting at power-on:
    /// QEMU's drives start with multiple mode on at 16 sectors (SeaBIOS leaves it so).
    static let maxMultiple = 16
    static let bufferSize = maxMultiple * DiskImage.sectorSize

    /// The disk; nil for an empty position.
    var image: DiskImage?
    /// Position 0–3 (QEMU's `-drive index=`): names the serial number.
    let index: Int

    // Command block registers: current and previous ("HOB") writes.
    var features: UInt8 = 0, hobFeatures: UInt8 = 0
    var count: UInt8 = 0, hobCount: UInt8 = 0
    var lbaLow: UInt8 = 0, hobLBALow: UInt8 = 0
    var lbaMid: UInt8 = 0, hobLBAMid: UInt8 = 0
    var lbaHigh: UInt8 = 0, hobLBAHigh: UInt8 = 0
    /// Device/Head: bits 7 and 5 always read as one (obsolete, QEMU keeps them so), bit 6 LBA,
    /// bit 4 DEV, bits 3–0 head or LBA 27:24.
    var device: UInt8 = 0xA0
    var status: UInt8 = 0
    var error: UInt8 = 0

    /// Sectors per DRQ block of READ/WRITE MULTIPLE (0: multiple mode off).
    var multiple = IDEDevice.maxMultiple
    /// The CHS translation (INITIALIZE DEVICE PARAMETERS); the default is `defaultGeometry`.
    var heads = 16
    var sectorsPerTrack = 63

    // The PIO transfer in progress.
    enum Transfer: UInt8 { case none = 0, identify, read, write }
    var transfer = Transfer.none
    var buffer = [UInt8](repeating: 0, count: IDEDevice.bufferSize)
    /// Next byte of `buffer` the data port moves, and the end of the current block.
    var dataPosition = 0
    var dataEnd = 0
    /// LBA of the current block's first sector (write) or of the next block to read.
    var nextLBA: UInt64 = 0
    /// Sectors of the command not yet in the buffer (read) or not yet started (write).
    var remaining: UInt32 = 0
    /// Sectors per DRQ block for this command (1, or `multiple`).
    var blockSectors = 1
    /// A 48-bit command (its address goes back into the HOB registers).
    var is48Bit = false

    init(index: Int) { self.index = index }

    var isPresent: Bool { image != nil }

    /// The state SeaBIOS leaves under QEMU 7.2 after probing the channel (its last commands went
    /// to device 1): ready, registers 0, the Device register selecting device 1.
    func powerOn() {
        transfer = .none
        dataPosition = 0
        dataEnd = 0
        multiple = Self.maxMultiple
        (heads, sectorsPerTrack) = (16, 63)
        (features, count, lbaLow, lbaMid, lbaHigh) = (0, 0, 0, 0, 0)
        (hobFeatures, hobCount, hobLBALow, hobLBAMid, hobLBAHigh) = (0, 0, 0, 0, 0)
        device = 0xB0
        status = isPresent ? Self.drdy | Self.dsc : 0
        error = 0
    }

    /// The ATA device signature (ATA-6 §9, signatures): count 1, LBA 1, cylinder 0, device 0.
    func setSignature() {
        count = 1; lbaLow = 1; lbaMid = 0; lbaHigh = 0
        device = 0xA0
    }

    /// The geometry reported in IDENTIFY words 1, 3, 6 (QEMU's guess for a disk without a
    /// partition table): 16 heads, 63 sectors, size / (16 · 63 · 512) cylinders, at least 2 and
    /// at most 16,383.
    var defaultCylinders: Int {
        guard let image else { return 0 }
        return Int(min(max(image.sectorCount / (16 * 63), 2), 16383))
    }

    /// Cylinders of the current translation (IDENTIFY word 54).
    var currentCylinders: Int {
        guard let image, heads > 0, sectorsPerTrack > 0 else { return 0 }
        return Int(min(image.sectorCount / UInt64(heads * sectorsPerTrack), 65535))
    }

    /// Writes a command block register (offset 1–5 of the channel): the previous value moves to
    /// the HOB copy.
    func writeRegister(_ offset: UInt16, _ v: UInt8) {
        switch offset {
        case 1: hobFeatures = features; features = v
        case 2: hobCount = count; count = v
        case 3: hobLBALow = lbaLow; lbaLow = v
        case 4: hobLBAMid = lbaMid; lbaMid = v
        case 5: hobLBAHigh = lbaHigh; lbaHigh = v
        default: break
        }
    }

    /// Reads a command block register at offset 2–5 (`hob`: the previous write).
    func readRegister(_ offset: UInt16, hob: Bool) -> UInt8 {
        switch offset {
        case 2: hob ? hobCount : count
        case 3: hob ? hobLBALow : lbaLow
        case 4: hob ? hobLBAMid : lbaMid
        case 5: hob ? hobLBAHigh : lbaHigh
        default: 0
        }
    }

    /// Ends the command with an error: ERR in status (DRDY kept), the bits in the error register.
    func fail(_ bits: UInt8) {
        transfer = .none
        dataPosition = 0
        dataEnd = 0
        status = Self.drdy | Self.err
        error = bits
    }

    /// Ends the command successfully, no data left.
    func complete() {
        transfer = .none
        dataPosition = 0
        dataEnd = 0
        status = Self.drdy | Self.dsc
    }
}
