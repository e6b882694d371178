// The ATA commands an IDE disk runs (ATA-6 §8), PIO only. Each returns whether the device
// asserts INTRQ (the channel raises the line unless nIEN). Interrupt points follow the PIO
// protocols of ATA-6 §9 (PIO data-in: one per DRQ block, none at the end; PIO data-out: none
// for the first block, one after each block written; non-data: one at the end).

extension IDEDevice {
    /// Runs `command` (the Command register was written with this device selected). A device 0
    /// that is not there but answers for its slave (`IDEChannel`) aborts every command.
    func execute(_ command: UInt8) -> Bool {
        error = 0
        guard image != nil else { fail(Self.abrt); return true }
        switch command {
        case 0x20, 0x21: return startRead(multiple: false, ext: false)   // READ SECTORS (w/o retry)
        case 0x24: return startRead(multiple: false, ext: true)          // READ SECTORS EXT
        case 0xC4: return startRead(multiple: true, ext: false)          // READ MULTIPLE
        case 0x29: return startRead(multiple: true, ext: true)           // READ MULTIPLE EXT
        case 0x30, 0x31: return startWrite(multiple: false, ext: false)  // WRITE SECTORS (w/o retry)
        case 0x34: return startWrite(multiple: false, ext: true)         // WRITE SECTORS EXT
        case 0xC5: return startWrite(multiple: true, ext: false)         // WRITE MULTIPLE
        case 0x39: return startWrite(multiple: true, ext: true)          // WRITE MULTIPLE EXT
        case 0x40, 0x41: return verify(ext: false)                       // READ VERIFY SECTORS
        case 0x42: return verify(ext: true)                              // READ VERIFY SECTORS EXT
        case 0xEC: return identify()                                     // IDENTIFY DEVICE
        case 0xC6: return setMultiple()                                  // SET MULTIPLE MODE
        case 0xE7, 0xEA:                                                 // FLUSH CACHE (EXT)
            if image?.flush() ?? false { complete() } else { fail(Self.abrt) }
            return true
        case 0x91: return initializeDeviceParameters()
        case 0xEF: return setFeatures()
        case 0x90:                                                       // EXECUTE DEVICE DIAGNOSTIC
            // Error register 01h: device 0 passed, device 1 passed or absent (ATA-6 §8, EXECUTE DEVICE DIAGNOSTIC).
            setSignature()
            complete()
            error = 0x01
            return true
        case 0x10...0x1F, 0x70:                                          // RECALIBRATE, SEEK (obsolete)
            complete()
            return true
        case 0xE0, 0xE1, 0xE2, 0xE3, 0x94, 0x95, 0x96, 0x97:            // STANDBY/IDLE (IMMEDIATE)
            complete()
            return true
        case 0xE5, 0x98:                                                 // CHECK POWER MODE
            complete()
            count = 0xFF                                                 // active or idle
            return true
        default:
            // NOP (00h) included: it always aborts (ATA-6 §8, NOP).
            fail(Self.abrt)
            return true
        }
    }

    // MARK: Addresses

    /// The starting LBA and sector count of a read/write/verify command, or nil (IDNF) for a
    /// CHS address outside the translation.
    func commandAddress(ext: Bool) -> (lba: UInt64, count: UInt32)? {
        if ext {
            let lba = UInt64(hobLBAHigh) << 40 | UInt64(hobLBAMid) << 32 | UInt64(hobLBALow) << 24
                | UInt64(lbaHigh) << 16 | UInt64(lbaMid) << 8 | UInt64(lbaLow)
            let n = UInt32(hobCount) << 8 | UInt32(count)
            return (lba, n == 0 ? 65536 : n)
        }
        let n: UInt32 = count == 0 ? 256 : UInt32(count)
        if device & 0x40 != 0 {
            return (UInt64(device & 0x0F) << 24 | UInt64(lbaHigh) << 16 | UInt64(lbaMid) << 8 | UInt64(lbaLow), n)
        }
        let cylinder = Int(lbaHigh) << 8 | Int(lbaMid)
        let head = Int(device & 0x0F)
        let sector = Int(lbaLow)
        guard sector >= 1, sector <= sectorsPerTrack, head < heads else { return nil }
        return (UInt64((cylinder * heads + head) * sectorsPerTrack + sector - 1), n)
    }

    /// Puts `lba` back in the task file as the command's addressing mode reads it (after each
    /// block the registers point at the next sector, as QEMU leaves them).
    func setAddress(_ lba: UInt64) {
        if is48Bit {
            lbaLow = UInt8(truncatingIfNeeded: lba); lbaMid = UInt8(truncatingIfNeeded: lba >> 8)
            lbaHigh = UInt8(truncatingIfNeeded: lba >> 16); hobLBALow = UInt8(truncatingIfNeeded: lba >> 24)
            hobLBAMid = UInt8(truncatingIfNeeded: lba >> 32); hobLBAHigh = UInt8(truncatingIfNeeded: lba >> 40)
        } else if device & 0x40 != 0 {
            lbaLow = UInt8(truncatingIfNeeded: lba); lbaMid = UInt8(truncatingIfNeeded: lba >> 8)
            lbaHigh = UInt8(truncatingIfNeeded: lba >> 16)
            device = device & 0xF0 | UInt8(truncatingIfNeeded: lba >> 24) & 0x0F
        } else if heads > 0 && sectorsPerTrack > 0 {
            let perCylinder = UInt64(heads * sectorsPerTrack)
            let cylinder = lba / perCylinder
            let rest = Int(lba % perCylinder)
            lbaHigh = UInt8(truncatingIfNeeded: cylinder >> 8); lbaMid = UInt8(truncatingIfNeeded: cylinder)
            device = device & 0xF0 | UInt8(rest / sectorsPerTrack) & 0x0F
            lbaLow = UInt8(rest % sectorsPerTrack + 1)
        }
    }

    /// Lowers the sector count by `n` (the registers count down as blocks complete).
    func countDown(_ n: Int) {
        if is48Bit {
            let left = (UInt32(hobCount) << 8 | UInt32(count)) &- UInt32(n)
            count = UInt8(truncatingIfNeeded: left); hobCount = UInt8(truncatingIfNeeded: left >> 8)
        } else {
            count = count &- UInt8(truncatingIfNeeded: n)
        }
    }

    func inRange(_ lba: UInt64, _ n: Int) -> Bool {
        guard let image else { return false }
        return lba < image.sectorCount && UInt64(n) <= image.sectorCount - lba
    }

    // MARK: Data-in

    /// The start every PIO data command shares: READ/WRITE MULTIPLE need SET MULTIPLE MODE
    /// first (ABRT), the address must lie on the medium (IDNF). False after such an error.
    func beginTransfer(_ kind: Transfer, multiple isMultiple: Bool, ext: Bool) -> Bool {
        if isMultiple && multiple == 0 { fail(Self.abrt); return false }
        is48Bit = ext
        guard let (lba, n) = commandAddress(ext: ext) else { fail(Self.idnf); return false }
        blockSectors = isMultiple ? multiple : 1
        nextLBA = lba
        remaining = n
        transfer = kind
        return true
    }

    func startRead(multiple isMultiple: Bool, ext: Bool) -> Bool {
        guard beginTransfer(.read, multiple: isMultiple, ext: ext) else { return true }
        return readBlock()
    }

    /// Loads the next DRQ block into the buffer: DRQ and an interrupt, or an error.
    func readBlock() -> Bool {
        let n = Int(min(remaining, UInt32(blockSectors)))
        // Out of range: IDNF (ATA-6 §8, READ SECTORS: "an address outside of the range of user-accessible
        // addresses"; QEMU reports ABRT).
        guard inRange(nextLBA, n) else { fail(Self.idnf); return true }
        let ok = buffer.withUnsafeMutableBytes { image!.read(lba: nextLBA, count: n, into: $0) }
        guard ok else { fail(Self.unc); return true }  // the host could not read it: an uncorrectable error
        nextLBA += UInt64(n)
        remaining -= UInt32(n)
        setAddress(nextLBA)
        countDown(n)
        dataPosition = 0
        dataEnd = n * DiskImage.sectorSize
        status = Self.drdy | Self.dsc | Self.drq
        return true
    }

    func identify() -> Bool {
        let words = identifyWords()
        for (i, v) in words.enumerated() {
            buffer[2 * i] = UInt8(truncatingIfNeeded: v)
            buffer[2 * i + 1] = UInt8(truncatingIfNeeded: v >> 8)
        }
        transfer = .identify
        dataPosition = 0
        dataEnd = DiskImage.sectorSize
        status = Self.drdy | Self.dsc | Self.drq
        return true
    }

    // MARK: Data-out

    func startWrite(multiple isMultiple: Bool, ext: Bool) -> Bool {
        guard beginTransfer(.write, multiple: isMultiple, ext: ext) else { return true }
        return writeBlockReady() == false
    }

    /// Opens the next DRQ block for the host's data (no interrupt before the first block);
    /// returns false when it failed instead (the failure interrupts).
    func writeBlockReady() -> Bool {
        let n = Int(min(remaining, UInt32(blockSectors)))
        guard inRange(nextLBA, n) else { fail(Self.idnf); return false }
        dataPosition = 0
        dataEnd = n * DiskImage.sectorSize
        status = Self.drdy | Self.dsc | Self.drq
        return true
    }

    /// The host filled the block: write it, then the next block or the end; always interrupts.
    func commitWriteBlock() {
        let n = dataEnd / DiskImage.sectorSize
        guard let image else { fail(Self.abrt); return }
        // A read-only drive, or the host file refused: the command is aborted (ATA-6 §8, WRITE SECTORS).
        let ok = buffer.withUnsafeBytes { image.write(lba: nextLBA, count: n, from: $0) }
        guard ok else { fail(Self.abrt); return }
        nextLBA += UInt64(n)
        remaining -= UInt32(n)
        setAddress(nextLBA)
        countDown(n)
        if remaining == 0 { complete() } else { _ = writeBlockReady() }
    }

    // MARK: Data port

    /// The host read `size` bytes (2 or 4; 1 reads a word's low byte) from the data register.
    func readData(size: Int) -> (value: UInt32, interrupt: Bool) {
        guard status & Self.drq != 0, transfer == .read || transfer == .identify else { return (0, false) }
        let n = size == 4 ? 4 : 2
        var v: UInt32 = 0
        for i in 0..<n where dataPosition + i < dataEnd { v |= UInt32(buffer[dataPosition + i]) << (8 * i) }
        dataPosition += n
        guard dataPosition >= dataEnd else { return (v, false) }
        if transfer == .read && remaining > 0 { return (v, readBlock()) }
        complete()
        return (v, false)
    }

    /// The host wrote `size` bytes to the data register.
    func writeData(size: Int, value: UInt32) -> Bool {
        guard status & Self.drq != 0, transfer == .write else { return false }
        let n = size == 4 ? 4 : 2
        for i in 0..<n where dataPosition + i < dataEnd { buffer[dataPosition + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
        dataPosition += n
        guard dataPosition >= dataEnd else { return false }
        commitWriteBlock()
        return true
    }

    // MARK: Non-data

    func verify(ext: Bool) -> Bool {
        is48Bit = ext
        guard let (lba, n) = commandAddress(ext: ext), inRange(lba, Int(n)) else { fail(Self.idnf); return true }
        complete()
        return true
    }

    /// SET MULTIPLE MODE (ATA-6 §8): the count must be a power of two up to 16 (0 turns
    /// multiple mode off, as QEMU allows).
    func setMultiple() -> Bool {
        let n = Int(count)
        guard n <= Self.maxMultiple, n & (n - 1) == 0 else { fail(Self.abrt); return true }
        multiple = n
        complete()
        return true
    }

    /// INITIALIZE DEVICE PARAMETERS (ATA-6 §8): the CHS translation, heads from the Device
    /// register, sectors per track from the count (0 aborts: no track has no sectors).
    func initializeDeviceParameters() -> Bool {
        guard count != 0 else { fail(Self.abrt); return true }
        heads = Int(device & 0x0F) + 1
        sectorsPerTrack = Int(count)
        complete()
        return true
    }

    /// SET FEATURES (ATA-6 §8): the subcommands drivers send at start-up are accepted and
    /// change nothing (no cache to enable, PIO only); others abort.
    func setFeatures() -> Bool {
        switch features {
        case 0x02, 0x82,   // write cache on/off
             0x03,         // transfer mode (PIO modes; a DMA mode is accepted and unused)
             0x05, 0x85,   // advanced power management
             0x55, 0xAA,   // read look-ahead off/on
             0x66, 0xCC:   // revert to power-on defaults off/on
            complete()
        default:
            fail(Self.abrt)
        }
        return true
    }
}
