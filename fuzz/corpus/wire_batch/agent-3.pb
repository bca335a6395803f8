
vmùŞ°ÆÁîÈõ¼î›£ÅîÈõ"cpu*nanoseconds0š°Œ:;
“¬aìZ±9oŸ½51i¥XRŠ@#/usr/lib/x86_64-linux-gnu/libc.so.6:)
5¶5zXw0Q9blà<Íğ¸/tmp/daybin/augur:Q
rê,x´SÌ‹Èõ¢2¼ÃUg]Šã9/work/main/target/debug/deps/integration-4c889823f89f2a4c:5
6pì¦İæópı}ÆÚÎ//work/main/target/debug/augurBi

hostvmI
exeB/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/rustc
servicerustcB“

hostvm$
exe/work/main/target/debug/augur4
build_id(3670eca608dd0b12e6f370fd7d8e1103c6dace2f
serviceaugur
version3670eca608ddBmK
exeD/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/rustfmt

hostvm
servicerustfmtBiI
exeB/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/rustc

hostvm
servicerustcB‡4
build_id(133510b6357a025877305139626ce03c01cdf0b8
version133510b6357a
exe/tmp/daybin/augur
serviceaugur

hostvmBÆ'
serviceintegration-4c889823f89f2a4c@
exe9/work/main/target/debug/deps/integration-4c889823f89f2a4c4
build_id(72ea2c78b453cc8bc8f5a21e32bcc355675d8ae3

hostvm
version72ea2c78b453Bi

hostvm
servicerustcI
exeB/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/rustcB‡
exe/tmp/daybin/augur
version133510b6357a4
build_id(133510b6357a025877305139626ce03c01cdf0b8

hostvm
serviceaugurBi
servicerustcI
exeB/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/rustc

hostvmBiI
exeB/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/rustc
servicerustc

hostvmJno build-idJ	
Ïú¤
ô£"Jno build-idJ¶
_raw_spin_unlock_irqrestore
folios_put_refs
free_pages_and_swap_cache" 
__tlb_batch_free_encoded_pages
tlb_finish_mmu

do_madvise
__x64_sys_madvise
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
‡¶@=;absolute address not found in virtual memory map of processJ	
¡œ½Jno build-idJC	
¬ß¹	
Êú…	
ãè„	
ÑÒ†	
®Ñ
ô£"J	
¤”œ
ô£"Jno build-idJno build-idJ	
Ãœ
ô£"JC	
«”¦	
Êú…	
ãè„	
ÑÒ†	
®Ñ
ô£"Jno build-idJ
ÚòXJRno build-id=;absolute address not found in virtual memory map of processJRno build-id=;absolute address not found in virtual memory map of processJRno build-id=;absolute address not found in virtual memory map of processJno build-idJ
Ô´[J	
¢›½J	no build-idJno build-idJno build-idJ	
¤û÷
ô£"Jno build-idJno build-idJ	no build-idJ	
åœ½J	
«
ô£"Jno build-idJ
ï‡&Jno build-idJl
‡°[	
ŒÄ‚	
Õ­ƒ	
÷È=;absolute address not found in virtual memory map of processJ	
úĞ·
ô£"Jno build-idJ‘	no build-id=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of processJ
Ä&JPno build-id=;absolute address not found in virtual memory map of process