import X86Core

// Snapshot state of the IDE controller: per channel the selected device, Device Control and the
// pending interrupt; per position whether a disk is there and which (path, size, mode), every
// register, the multiple and CHS settings, the PIO transfer in progress with the bytes of its
// block, and a `snapshot` disk's overlay (the sectors written, in LBA order). The disk's file is
// not in the snapshot: a restore needs the same disks.
//
// Restoring into a machine with a disk at a position checks that it has the saved size and mode
// (`x86v run --resume` with `--drive` flags given again, or the debugger's own machine); a
// position with no disk attached gets the saved path opened again with the saved mode (`--resume`
// without `--drive`). Sectors a writable disk wrote to its file stay written when a snapshot
// taken before them is restored (the debugger's reverse steps cannot take them back).

extension IDEController {
    /// Section "IDEC".
    public func saveState(to w: inout StateWriter) {
        w.tag("IDEC")
        for c in channels {
            w.put(UInt8(c.selected))
            w.put(c.deviceControl)
            w.put(c.interruptPending)
        }
        for i in 0..<4 {
            let d = position(i)
            w.put(d.image != nil)
            if let image = d.image {
                w.put(image.absolutePath)
                w.put(image.sectorCount)
                w.put(image.readOnly)
                w.put(image.snapshot)
            }
            for r in [d.features, d.hobFeatures, d.count, d.hobCount, d.lbaLow, d.hobLBALow, d.lbaMid,
                      d.hobLBAMid, d.lbaHigh, d.hobLBAHigh, d.device, d.status, d.error] { w.put(r) }
            w.put(UInt8(d.multiple))
            w.put(UInt8(d.heads))
            w.put(UInt8(d.sectorsPerTrack))
            w.put(d.transfer.rawValue)
            w.put(UInt32(d.dataPosition))
            w.put(d.nextLBA)
            w.put(d.remaining)
            w.put(UInt8(d.blockSectors))
            w.put(d.is48Bit)
            w.put(bytes: Array(d.buffer[0..<d.dataEnd]))
            if let image = d.image, image.snapshot {
                let sectors = image.overlay.keys.sorted()
                w.put(UInt32(sectors.count))
                for s in sectors {
                    w.put(s)
                    w.put(bytes: image.overlay[s]!)
                }
            }
        }
    }

    public func restoreState(from r: inout StateReader) throws(StateError) {
        try readState(from: &r)()
    }

    /// Reads and checks the section (opening saved disks where none is attached); the closure
    /// installs it.
    func readState(from r: inout StateReader) throws(StateError) -> () -> Void {
        try r.expect("IDEC")
        var channelState: [(selected: Int, control: UInt8, pending: Bool)] = []
        for _ in 0..<2 {
            let selected = Int(try r.get("IDE selected device", UInt8.self) { $0 <= 1 })
            let control: UInt8 = try r.get("IDE device control", mask: IDEChannel.nIEN | IDEChannel.srst | IDEChannel.hob)
            channelState.append((selected, control, try r.getBool()))
        }
        var installs: [() -> Void] = []
        for i in 0..<4 {
            let d = position(i)
            var image: DiskImage? = nil
            if try r.getBool() {
                let path = try r.getString(limit: 1 << 16)
                let sectors: UInt64 = try r.get()
                let readOnly = try r.getBool()
                let snapshot = try r.getBool()
                let mode = snapshot ? "snapshot" : readOnly ? "readonly" : "read-write"
                if let attached = d.image {
                    guard attached.sectorCount == sectors, attached.readOnly == readOnly, attached.snapshot == snapshot else {
                        throw StateError("the snapshot's IDE drive \(i) is \(path) (\(sectors) sectors, \(mode)); the drive given for index \(i) is \(attached.sectorCount) sectors, \(attached.snapshot ? "snapshot" : attached.readOnly ? "readonly" : "read-write")")
                    }
                    image = attached
                } else {
                    do { image = try DiskImage(path: path, readOnly: readOnly, snapshot: snapshot) } catch {
                        throw StateError("the snapshot's IDE drive \(i): \(error.description)")
                    }
                    guard image!.sectorCount == sectors else {
                        throw StateError("the snapshot's IDE drive \(i), \(path), had \(sectors) sectors and now has \(image!.sectorCount)")
                    }
                }
            } else if let attached = d.image {
                throw StateError("the snapshot has no IDE drive at index \(i), but \(attached.path) is given there")
            }
            var regs: [UInt8] = []
            for _ in 0..<13 { regs.append(try r.get()) }
            let multiple = Int(try r.get("IDE multiple count", UInt8.self) { $0 <= IDEDevice.maxMultiple && $0 & ($0 &- 1) == 0 })
            let heads = Int(try r.get("IDE heads", UInt8.self) { $0 >= 1 && $0 <= 16 })
            let spt = Int(try r.get("IDE sectors per track", UInt8.self) { $0 >= 1 })
            let transferRaw: UInt8 = try r.get()
            guard let transfer = IDEDevice.Transfer(rawValue: transferRaw) else {
                throw StateError("snapshot corrupt: IDE transfer kind \(transferRaw)")
            }
            let position32: UInt32 = try r.get()
            let nextLBA: UInt64 = try r.get()
            let remaining: UInt32 = try r.get()
            let block = Int(try r.get("IDE block sectors", UInt8.self) { $0 >= 1 && Int($0) <= IDEDevice.maxMultiple })
            let is48 = try r.getBool()
            let data = Array(try r.getBytes(limit: IDEDevice.bufferSize))
            guard Int(position32) <= data.count, data.count % 2 == 0 else {
                throw StateError("snapshot corrupt: IDE data position \(position32) in a block of \(data.count) bytes")
            }
            var overlay: [UInt64: [UInt8]]? = nil
            if let image, image.snapshot {
                let n = try r.getCount(limit: Int(min(image.sectorCount, 1 << 24)))
                var o: [UInt64: [UInt8]] = [:]
                for _ in 0..<n {
                    let lba: UInt64 = try r.get("IDE overlay sector", UInt64.self) { $0 < image.sectorCount }
                    let bytes = Array(try r.getBytes(limit: DiskImage.sectorSize))
                    guard bytes.count == DiskImage.sectorSize else { throw StateError("snapshot corrupt: IDE overlay sector of \(bytes.count) bytes") }
                    o[lba] = bytes
                }
                overlay = o
            }
            installs.append {
                d.image = image
                (d.features, d.hobFeatures, d.count, d.hobCount, d.lbaLow, d.hobLBALow) = (regs[0], regs[1], regs[2], regs[3], regs[4], regs[5])
                (d.lbaMid, d.hobLBAMid, d.lbaHigh, d.hobLBAHigh, d.device, d.status, d.error) = (regs[6], regs[7], regs[8], regs[9], regs[10], regs[11], regs[12])
                d.multiple = multiple
                d.heads = heads
                d.sectorsPerTrack = spt
                d.transfer = transfer
                d.dataPosition = Int(position32)
                d.dataEnd = data.count
                d.buffer.replaceSubrange(0..<data.count, with: data)
                d.nextLBA = nextLBA
                d.remaining = remaining
                d.blockSectors = block
                d.is48Bit = is48
                if let overlay { image?.setOverlay(overlay) }
            }
        }
        return {
            for (c, s) in zip(self.channels, channelState) {
                c.selected = s.selected
                c.deviceControl = s.control
                c.interruptPending = s.pending
            }
            for install in installs { install() }
        }
    }
}
