import Machine
import X86Core
