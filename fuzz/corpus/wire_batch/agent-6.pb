
vmµİ¬ÙîÈõº®ˆ’İîÈõ"off-cpu*nanoseconds0:)
5¶5zXw0Q9blà<Íğ¸/tmp/daybin/augur:;
“¬aìZ±9oŸ½51i¥XRŠ@#/usr/lib/x86_64-linux-gnu/libc.so.6BU

hostvm!
exe/memfd:sealed-91173221a7ea$
servicememfd:sealed-91173221a7eaB‡4
build_id(133510b6357a025877305139626ce03c01cdf0b8
exe/tmp/daybin/augur

hostvm
serviceaugur
version133510b6357aBi

hostvm
servicerustcI
exeB/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/rustcB•&
exe/work/main/target/release/augur4
build_id(133510b6357a025877305139626ce03c01cdf0b8
version133510b6357a
serviceaugur

hostvmB$
servicercu_preempt

hostvmBU!
exe/memfd:sealed-91173221a7ea

hostvm$
servicememfd:sealed-91173221a7eaB"

hostvm
service	kdamond.0B‡
exe/tmp/daybin/augur
version133510b6357a

hostvm4
build_id(133510b6357a025877305139626ce03c01cdf0b8
serviceaugurBU

hostvm!
exe/memfd:sealed-91173221a7ea$
servicememfd:sealed-91173221a7eaB%
servicekworker/1:1H

hostvmB$

hostvm
serviceksoftirqd/1B“$
exe/work/main/target/debug/augur
serviceaugur4
build_id(3670eca608dd0b12e6f370fd7d8e1103c6dace2f
version3670eca608dd

hostvmBiI
exeB/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/rustc

hostvm
servicerustcB$

hostvm
servicekworker/0:1BU$
servicememfd:sealed-91173221a7ea!
exe/memfd:sealed-91173221a7ea

hostvmBi

hostvm
servicecargoI
exeB/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/cargoB$
servicekworker/1:1

hostvmB‚
exe/usr/bin/bash
servicebash4
build_id(135afc8c6d1b9e02356cce218bf0109c3687ad9f

hostvm
version135afc8c6d1bBU!
exe/memfd:sealed-91173221a7ea$
servicememfd:sealed-91173221a7ea

hostvmB%
servicekworker/u8:2

hostvmB#

hostvm
service
kcompactd0B%

hostvm
servicekworker/u8:1Bi
servicecargoI
exeB/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/cargo

hostvmBi

hostvm
servicecargoI
exeB/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/cargoJ­

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframebinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskäÙ²‘JĞ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
úçñ
Ş¯¹ö§±tJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of processÄÆª"JÈ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
Ş¯¹«Ì]J†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
ŞÔ=;absolute address not found in virtual memory map of process«¤J†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of process îõJˆ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
™Ã=;absolute address not found in virtual memory map of process›Ü·Jâ

__schedule

schedule
io_schedule
folio_wait_bit_common
filemap_fault

__do_fault

do_fault
__handle_mm_fault
handle_mm_fault
exc_page_fault
asm_exc_page_fault
¦³ßÄ~J†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of processÑÏ¼JÈ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
ôØœ“º˜âJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
ºÇ=;absolute address not found in virtual memory map of processğ¨¨AJq

__schedule

schedule
rcu_gp_kthread	
kthread
ret_from_fork
ret_from_fork_asmø¹÷ªJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of processİÈJ¯

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframebinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on disk·íÍJƒ

__schedule

schedule
schedule_timeout

kdamond_fn	
kthread
ret_from_fork
ret_from_fork_asmÇ‰öçJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of processîJÈ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
ˆÂò»Î‘J†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of processíÛçJ¿

__schedule

schedule" 
schedule_hrtimeout_range_clock
do_epoll_wait
__x64_sys_epoll_wait
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
¶B
±ƒƒ=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of processåÿ”àJ¯

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframebinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on disk»ŠÕ‘Jp	

__schedule

schedule
worker_thread	
kthread
ret_from_fork
ret_from_fork_asm³µŸ”J†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of processÂÊõJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of processüìÜJ¯

__schedule

schedule
io_schedule
rq_qos_wait

wbt_wait
__rq_qos_throttle
blk_mq_submit_bio
__submit_bio
submit_bio_noacct_nocheck
ext4_bio_write_folio
mpage_process_page_bufs
mpage_prepare_extent_to_map
ext4_do_writepages
ext4_writepages
do_writepages
filemap_fdatawrite_wbc
__filemap_fdatawrite_range
file_write_and_wait_range!
generic_buffers_fsync_noflush$"
 ext4_fsync_nojournal.constprop.0
ext4_sync_file

do_fsync
__x64_sys_fsync
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
ÊØ?
‹ÏÛ
ƒôø
‚µ‹
Ø¸‹
£º‹
Ìº‹
î´ƒ
íßÙ×ĞXJ¯

__schedule

schedule
io_schedule
folio_wait_bit
folio_wait_writeback
__filemap_fdatawait_range
file_write_and_wait_range!
generic_buffers_fsync_noflush$"
 ext4_fsync_nojournal.constprop.0
ext4_sync_file

do_fsync
__x64_sys_fdatasync
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
ŠÚ?
ñÅ¡=;absolute address not found in virtual memory map of processÍ§šHJt


__schedule

schedule
smpboot_thread_fn	
kthread
ret_from_fork
ret_from_fork_asmÀŞä¡J†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of process´¦J†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of processÏ’ŠJÁ

__schedule

schedule" 
schedule_hrtimeout_range_clock
do_epoll_wait
__x64_sys_epoll_wait
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
¶B
ô£"©óÜyJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of processïÀ“J†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of process åÚ2J¾

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
ÖÁ!©Ã˜JŒ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@no build-id=;absolute address not found in virtual memory map of process‚¶ÖJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of processğ²×J†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of process½ãô1J«

__schedule

schedule
io_schedule
folio_wait_bit
folio_wait_writeback
__filemap_fdatawait_range
file_write_and_wait_range!
generic_buffers_fsync_noflush$"
 ext4_fsync_nojournal.constprop.0
ext4_sync_file

do_fsync
__x64_sys_fsync
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
ÊØ?
‹ÏÛ
Ùçõ
òĞø
Ó×ø
”ú
ÿ‰‚
Õ­ƒ
íßÙâÂæJ‡

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
Ã»=;absolute address not found in virtual memory map of process†í’¤J†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of processşÚî*JŒ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@no build-id=;absolute address not found in virtual memory map of processáãµJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of process×ë‹2J†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
™Ã=;absolute address not found in virtual memory map of processûvJp

__schedule

schedule
worker_thread	
kthread
ret_from_fork
ret_from_fork_asm£æÿØJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of process×¡Ö@J†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of processèà½1J†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of processŸÙÎJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of processšÓ‹J¯

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframebinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskÂîºJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of processÑ²$J†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of processåŠÊJ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@no build-id=;absolute address not found in virtual memory map of process«®§ğJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of process‚ÚJ»

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of processê·aJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of process°ü$J†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of processªîúJÇ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
˜Ÿ»µü¡DJ‚

__schedule

schedule
io_schedule
bit_wait_io
__wait_on_bit
out_of_line_wait_on_bit
__sync_dirty_buffer
ext4_write_inode
__writeback_single_inode
writeback_single_inode
sync_inode_metadata!
generic_buffers_fsync_noflush$"
 ext4_fsync_nojournal.constprop.0
ext4_sync_file

do_fsync
__x64_sys_fsync
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
ÊØ?
‹ÏÛ
Ùçõ
òĞø
Ó×ø
”ú
ÿ‰‚
Õ­ƒ
íßÙĞ‚ìJp

__schedule

schedule
worker_thread	
kthread
ret_from_fork
ret_from_fork_asm€·××J¼

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of processÁ³bJı

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
ÖÁ!=;absolute address not found in virtual memory map of process¥ê J‡

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
™Ã=;absolute address not found in virtual memory map of process»ìŠJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of processåôÙJı

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@=;absolute address not found in virtual memory map of process™‹#JŒ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@no build-id=;absolute address not found in virtual memory map of process´ò…J¸

__schedule

schedule" 
schedule_hrtimeout_range_clock
do_epoll_wait
__x64_sys_epoll_wait
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
¶BÊ¥¶J†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of process â‚ J…

__schedule

schedule	
do_wait
kernel_wait4
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
Ó÷4©¸Jı

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
ÖÁ!=;absolute address not found in virtual memory map of processÆäÅJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of processÿƒª8J›

__schedule

schedule
schedule_timeout
rcu_gp_fqs_loop
rcu_gp_kthread	
kthread
ret_from_fork
ret_from_fork_asm¨—“zJ¯

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframebinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskÔá²J

__schedule

schedule
io_schedule
bit_wait_io
__wait_on_bit
out_of_line_wait_on_bit
__sync_dirty_buffer
ext4_write_inode$"
 ext4_fsync_nojournal.constprop.0
ext4_sync_file

do_fsync
__x64_sys_fdatasync
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
ŠÚ?
ñÅ¡=;absolute address not found in virtual memory map of process‹ÎÓJ¦

__schedule

schedule
schedule_timeout
io_schedule_timeout" 
wait_for_completion_io_timeout
submit_bio_wait
blkdev_issue_flush
ext4_sync_file

do_fsync
__x64_sys_fsync
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
ÊØ?
¹Å¡Á¸ÔJp

__schedule

schedule
worker_thread	
kthread
ret_from_fork
ret_from_fork_asm›Êü¬J†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of process ñš	J†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of process»µ¥"JÙ

__schedule

schedule
io_schedule
bit_wait_io
__wait_on_bit
out_of_line_wait_on_bit
fsync_buffers_list!
generic_buffers_fsync_noflush$"
 ext4_fsync_nojournal.constprop.0
ext4_sync_file

do_fsync
__x64_sys_fsync
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
ÊØ?
¹Å¡ÉßJ«

__schedule

schedule
io_schedule
folio_wait_bit
folio_wait_writeback
__filemap_fdatawait_range
file_write_and_wait_range!
generic_buffers_fsync_noflush$"
 ext4_fsync_nojournal.constprop.0
ext4_sync_file

do_fsync
__x64_sys_fsync
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
ÊØ?
‹ÏÛ
Ùêõ
òĞø
Ó×ø
”ú
ÿ‰‚
Õ­ƒ
íßÙª÷J¼

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process¹öõ=JÏ

__schedule

schedule
do_nanosleep
hrtimer_nanosleep
common_nsleep_timens
__x64_sys_clock_nanosleep
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
Åê3
Ò†µ=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process¯¾ÍJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of process®§á0J«

__schedule

schedule
io_schedule
folio_wait_bit
folio_wait_writeback
__filemap_fdatawait_range
file_write_and_wait_range!
generic_buffers_fsync_noflush$"
 ext4_fsync_nojournal.constprop.0
ext4_sync_file

do_fsync
__x64_sys_fsync
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
ÊØ?
‹ÏÛ
ƒôø
‚µ‹
Ø¸‹
£º‹
Ìº‹
î´ƒ
íßÙ•çÑJı

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@=;absolute address not found in virtual memory map of processá³¿eJ·

__schedule

schedule" 
schedule_hrtimeout_range_clock
do_epoll_wait
__x64_sys_epoll_wait
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
¶Bş…š~J†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of processìÊ§$J†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of processˆ¯·#J†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of process€ŸJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of processÀ˜®_J†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of processíÊ‚JÈ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
˜Ÿ»•Í‡İJ‚

__schedule

schedule
schedule_timeout
	kcompactd	
kthread
ret_from_fork
ret_from_fork_asmô¾òJp

__schedule

schedule
worker_thread	
kthread
ret_from_fork
ret_from_fork_asm´‚îåJ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@no build-id=;absolute address not found in virtual memory map of process‹ÕÏªJ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@no build-id=;absolute address not found in virtual memory map of processË»¹îJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of processë´—3J¼

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of processçÅØJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of process›ÊôJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of processØü¢JÇ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
îÁ¹Ä³ƒJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of processó©í0J†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
ŞÔ=;absolute address not found in virtual memory map of process“µ“#Jé

__schedule

schedule
schedule_timeout
io_schedule_timeout" 
wait_for_completion_io_timeout
submit_bio_wait
blkdev_issue_flush
ext4_sync_file

do_fsync
__x64_sys_fdatasync
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
ŠÚ?
ñÅ¡=;absolute address not found in virtual memory map of process•¸Á0J†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of processÍêÉJÍ

__schedule

schedule
io_schedule
bit_wait_io
__wait_on_bit
out_of_line_wait_on_bit
__sync_dirty_buffer
ext4_write_inode$"
 ext4_fsync_nojournal.constprop.0
ext4_sync_file

do_fsync
__x64_sys_fsync
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
ÊØ?
¹Å¡„¾¼J†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of processÁ«º"J†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of process‚·ë.Jş

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@=;absolute address not found in virtual memory map of processÏ¼Ù·J¼

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of processÀö£J†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of processøÄ’&JÇ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
¯²ŸÈòÂ^J†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@
»ğ=;absolute address not found in virtual memory map of process§¯ô