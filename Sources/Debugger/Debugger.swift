import X86Core
