; The bootstrap of package redoxtest (bootstrap.go), for nasm:
;   nasm -f bin -o bootstrap bootstrap.asm
; TestBootstrapMatchesNasm checks that the hand-encoded Go bytes are these.
; The archiver copies this file to initfs offset 0x1000, which the kernel
; maps at 0x2000: file offset N is at address 0x2000+N.
BITS 64
ORG 0x2000

SYS_OPENAT_INTO equ 0x10000000 | 0x00100000 | 987   ; SYS_CLASS_PATH | SYS_RET_FILE | 987
SYS_WRITE       equ 0x20000000 | 0x01000000 | 4     ; SYS_CLASS_FILE | SYS_ARG_SLICE | 4
UPPER_FDTBL_TAG equ 1 << 62
DEBUG_SCHEME    equ 1                               ; GlobalSchemes::Debug
O_WRONLY        equ 0x00020000

ehdr:                           ; ELF-64 header
    db 0x7f, "ELF", 2, 1, 1, 0  ; class 64, little-endian, version 1, System V
    times 8 db 0
    dw 2                        ; e_type ET_EXEC
    dw 0x3e                     ; e_machine EM_X86_64
    dd 1                        ; e_version
    dq _start                   ; e_entry
    dq phdr - ehdr              ; e_phoff
    dq 0                        ; e_shoff
    dd 0                        ; e_flags
    dw 64                       ; e_ehsize
    dw 56                       ; e_phentsize
    dw 1                        ; e_phnum
    dw 64                       ; e_shentsize
    dw 0                        ; e_shnum
    dw 0                        ; e_shstrndx
phdr:                           ; PT_LOAD, R+X, the whole file at 0x2000
    dd 1
    dd 5
    dq 0
    dq 0x2000
    dq 0x2000
    dq end - ehdr
    dq end - ehdr
    dq 0x1000
    times 0x80 - ($ - $$) db 0

_start:                         ; 0x2080
    mov eax, SYS_OPENAT_INTO
    mov rdi, UPPER_FDTBL_TAG | DEBUG_SCHEME
    lea rsi, [rel msg]
    xor edx, edx
    mov r10d, O_WRONLY
    xor r8d, r8d
    xor r9d, r9d
    syscall
    test rax, rax
    jnz short open_failed
    mov eax, SYS_WRITE
    xor edi, edi
    lea rsi, [rel msg]
    mov edx, msg_len
    syscall
    cmp rax, msg_len
    jne short write_failed
success:                        ; 0x20C6
    ud2
open_failed:                    ; 0x20C8
    ud2
write_failed:                   ; 0x20CA
    ud2
msg:
    db "cook bootstrap: hello from Redox user mode", 10
msg_len equ $ - msg
end:
