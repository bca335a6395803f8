
vmÉ≤†√‰Ó»ıñäúéÁÓ»ı"off-cpu*nanoseconds0:7
5∂5zXw0Q9bl‡<Õ∏/work/main/target/release/augur:;
ì¨aÏZé±9oüΩ51i•XRä@#/usr/lib/x86_64-linux-gnu/libc.so.6Bá
version133510b6357a
serviceaugur
exe/tmp/daybin/augur

hostvm4
build_id(133510b6357a025877305139626ce03c01cdf0b8B#

hostvm
service
kcompactd0Bï4
build_id(133510b6357a025877305139626ce03c01cdf0b8
version133510b6357a&
exe/work/main/target/release/augur

hostvm
serviceaugurBU!
exe/memfd:sealed-91173221a7ea

hostvm$
servicememfd:sealed-91173221a7eaBá
exe/tmp/daybin/augur

hostvm
version133510b6357a
serviceaugur4
build_id(133510b6357a025877305139626ce03c01cdf0b8BU!
exe/memfd:sealed-91173221a7ea

hostvm$
servicememfd:sealed-91173221a7eaB"
service	kdamond.0

hostvmB$

hostvm
servicekworker/0:1B$

hostvm
servicercu_preemptB%

hostvm
servicekworker/1:1HB$
serviceksoftirqd/1

hostvmB%
servicekworker/u8:1

hostvmBU$
servicememfd:sealed-91173221a7ea!
exe/memfd:sealed-91173221a7ea

hostvmBU!
exe/memfd:sealed-91173221a7ea

hostvm$
servicememfd:sealed-91173221a7eaBU$
servicememfd:sealed-91173221a7ea!
exe/memfd:sealed-91173221a7ea

hostvmB$
servicekworker/1:1

hostvmB$
serviceksoftirqd/0

hostvmBi
servicerustc

hostvmI
exeB/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/rustcBiI
exeB/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/cargo
servicecargo

hostvmBi
servicecargoI
exeB/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/cargo

hostvmBiI
exeB/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/cargo

hostvm
servicecargoB%
servicekworker/0:1H

hostvmJ∂

__schedule

schedule" 
schedule_hrtimeout_range_clock
do_epoll_wait
__x64_sys_epoll_wait
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
∂ûBìÑíÓJÇ

__schedule

schedule
schedule_timeout
	kcompactd	
kthread
ret_from_fork
ret_from_fork_asmê®íÙJ¸

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
÷¡!=;absolute address not found in virtual memory map of process¯÷∫”JÇ

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
 ÿ?
˜µŒ=;absolute address not found in virtual memory map of process∑≤∆JØ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframebinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on disk†çÀŒJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@
ªù=;absolute address not found in virtual memory map of processôÑ™FJÁ

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
ä⁄?
Ò≈°=;absolute address not found in virtual memory map of processò∫ÏJ∆

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@
òüª´˝‡˚J∏

__schedule

schedule" 
schedule_hrtimeout_range_clock
do_epoll_wait
__x64_sys_epoll_wait
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
∂ûB√Ê´√J∑

__schedule

schedule" 
schedule_hrtimeout_range_clock
do_epoll_wait
__x64_sys_epoll_wait
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
∂ûBÔ’ÿbJØ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframebinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on disk≈ˆä–JÉ

__schedule

schedule
schedule_timeout

kdamond_fn	
kthread
ret_from_fork
ret_from_fork_asmúÛˇÚJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@
ªù=;absolute address not found in virtual memory map of processıüè;JÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@
ªù=;absolute address not found in virtual memory map of process„˘›AJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@
ªù=;absolute address not found in virtual memory map of processÓ’ÖjJp

__schedule

schedule
worker_thread	
kthread
ret_from_fork
ret_from_fork_asm´™—’JÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@
√ªû=;absolute address not found in virtual memory map of processπÂâeJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@
ªù=;absolute address not found in virtual memory map of processÊ˜⁄VJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@
ªù=;absolute address not found in virtual memory map of processªÿ AJq

__schedule

schedule
rcu_gp_kthread	
kthread
ret_from_fork
ret_from_fork_asmÔÕ∫ñJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@
ªù=;absolute address not found in virtual memory map of processπﬁ“FJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@
∫«û=;absolute address not found in virtual memory map of process—“ƒJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@
ªù=;absolute address not found in virtual memory map of processÀ‡æCJœ

__schedule

schedule
do_nanosleep
hrtimer_nanosleep
common_nsleep_timens
__x64_sys_clock_nanosleep
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
≈Í3
“Üµ=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of processëßµJ≠

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
ä⁄?
Ò≈°=;absolute address not found in virtual memory map of process’äŸJé

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
ä⁄?
Ò≈°=;absolute address not found in virtual memory map of process—ÎëJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@
ªù=;absolute address not found in virtual memory map of process±ØºgJp	

__schedule

schedule
worker_thread	
kthread
ret_from_fork
ret_from_fork_asmßëÒ»Jt


__schedule

schedule
smpboot_thread_fn	
kthread
ret_from_fork
ret_from_fork_asmáÃ∂∫Jp

__schedule

schedule
worker_thread	
kthread
ret_from_fork
ret_from_fork_asm¬ˇ•ƒJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@
ªù=;absolute address not found in virtual memory map of processëâÉWJ˚

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
÷¡!=;absolute address not found in virtual memory map of process®û‘3JÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@
ªù=;absolute address not found in virtual memory map of process‘†ˆFJ»

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@
ﬁØπÓÄŒÇJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@
ªù=;absolute address not found in virtual memory map of processæèß8JØ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframebinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskìƒ¶∑JÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@
ªù=;absolute address not found in virtual memory map of process›ì™\Jø

__schedule

schedule" 
schedule_hrtimeout_range_clock
do_epoll_wait
__x64_sys_epoll_wait
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
∂ûB
±ÉÉ=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of processêÙ∂¬JØ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframebinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskœ´ûŒJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@
ªù=;absolute address not found in virtual memory map of processÎúΩ@JØ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframebinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskºÈ‚—J≈

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@
Ø≤ü™»äAJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@
ªù=;absolute address not found in virtual memory map of process≠˜—EJ∆

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@
Ùÿúßª’æJÂ

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
 ÿ?
‰∫Œ=;absolute address not found in virtual memory map of processóóøJp

__schedule

schedule
worker_thread	
kthread
ret_from_fork
ret_from_fork_asmÉœ∂›J»

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@
àû¬˛”†·J∆

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@
ﬁØπ´í˛Œ>Jt

__schedule

schedule
smpboot_thread_fn	
kthread
ret_from_fork
ret_from_fork_asmΩ›•°J®

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
asm_exc_page_faultno build-id=;absolute address not found in virtual memory map of process⁄å±J™

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
 ÿ?
˜µŒ=;absolute address not found in virtual memory map of processƒˇSJ»

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@
òüª ˚˚èJ˚

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
÷¡!=;absolute address not found in virtual memory map of processÏäˇJç

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@no build-id=;absolute address not found in virtual memory map of processê⁄ùJ»

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@
àû¬ß¢¿◊J—

__schedule

schedule
do_nanosleep
hrtimer_nanosleep
common_nsleep_timens
__x64_sys_clock_nanosleep
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
≈Í3
“Üµ∆»ÍJç

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@no build-id=;absolute address not found in virtual memory map of process⁄ùπÓJõ

__schedule

schedule
schedule_timeout
rcu_gp_fqs_loop
rcu_gp_kthread	
kthread
ret_from_fork
ret_from_fork_asmﬁÍùJç

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@no build-id=;absolute address not found in virtual memory map of processº‘πÓJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@
ªù=;absolute address not found in virtual memory map of process¿’ìJp

__schedule

schedule
worker_thread	
kthread
ret_from_fork
ret_from_fork_asmêÚŸµJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@
ªù=;absolute address not found in virtual memory map of processÁî÷LJ«

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@
òüªˆëé(JÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@
ªù=;absolute address not found in virtual memory map of processû»ãDJ®

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
asm_exc_page_faultno build-id=;absolute address not found in virtual memory map of process≥“é