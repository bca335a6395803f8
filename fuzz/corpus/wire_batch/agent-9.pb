
vm∫Æàí›Ó»ı§˘„Ê‡Ó»ı"off-cpu*nanoseconds0:;
ì¨aÏZé±9oüΩ51i•XRä@#/usr/lib/x86_64-linux-gnu/libc.so.6:V
≈◊˜ÂBÒƒ4O”*Á”V);˚‚>/work/tgt-unwind/debug/deps/libasync_trait-77c1c27fcceeb682.so:?
o8L.<8à}”∫Z$≤·å‚‡'/usr/lib/x86_64-linux-gnu/libgcc_s.so.1:F
~ºeÂ/+æ§ò¥©/r87z´©./usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2:)
5∂5zXw0Q9bl‡<Õ∏/tmp/daybin/augur:5
6pÏ¶›ÊÛp˝}é∆⁄Œ//work/main/target/debug/augurBá
exe/tmp/daybin/augur
version133510b6357a

hostvm
serviceaugur4
build_id(133510b6357a025877305139626ce03c01cdf0b8BiI
exeB/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/rustc

hostvm
servicerustcB#

hostvm
service
kcompactd0Bi
servicerustcI
exeB/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/rustc

hostvmBU!
exe/memfd:sealed-91173221a7ea

hostvm$
servicememfd:sealed-91173221a7eaBì

hostvm4
build_id(3670eca608dd0b12e6f370fd7d8e1103c6dace2f
version3670eca608dd
serviceaugur$
exe/work/main/target/debug/augurBï&
exe/work/main/target/release/augur
version133510b6357a
serviceaugur4
build_id(133510b6357a025877305139626ce03c01cdf0b8

hostvmBá4
build_id(133510b6357a025877305139626ce03c01cdf0b8
version133510b6357a
exe/tmp/daybin/augur

hostvm
serviceaugurBU

hostvm$
servicememfd:sealed-91173221a7ea!
exe/memfd:sealed-91173221a7eaBi
servicecargoI
exeB/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/cargo

hostvmBi

hostvmI
exeB/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/rustc
servicerustcB"

hostvm
service	kdamond.0B$

hostvm
servicekworker/0:1B$

hostvm
servicercu_preemptB%
servicekworker/u8:2

hostvmB%
servicekworker/1:1H

hostvmB$

hostvm
serviceksoftirqd/1BU!
exe/memfd:sealed-91173221a7ea$
servicememfd:sealed-91173221a7ea

hostvmBU

hostvm!
exe/memfd:sealed-91173221a7ea$
servicememfd:sealed-91173221a7eaBU!
exe/memfd:sealed-91173221a7ea$
servicememfd:sealed-91173221a7ea

hostvmB$
servicekworker/1:1

hostvmB$

hostvm
serviceksoftirqd/0BiI
exeB/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/cargo

hostvm
servicecargoBiI
exeB/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/cargo

hostvm
servicecargoB%

hostvm
servicekworker/0:1HJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of processÅ‡¥>JÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of processî¡í,J¥

__schedule

schedule" 
schedule_hrtimeout_range_clock
do_epoll_wait
__x64_sys_epoll_wait
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
∂ûBø›ÂÒJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of processÿÎ≈JÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of processô¢⁄Jπ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of processÒıfJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of processÚ˛π?JÇ

__schedule

schedule
schedule_timeout
	kcompactd	
kthread
ret_from_fork
ret_from_fork_asmëÕ£ËJ∫

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process¢§øJ‰

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
asm_exc_page_fault
–Ö5ŒëﬂJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of processë’—1J∫

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process˛ƒ‰Jπ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process›äTJ∑

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
entry_SYSCALL_64_after_hwframe
 ÿ?	
ãœ€	
ŸÍı	
Ú–¯	
”◊¯	
îé˙	
ˇâÇ	
’≠É	
ÌﬂŸ›åùJ£

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
asm_exc_page_fault
Ò°=;absolute address not found in virtual memory map of process–œ˝JØ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframebinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskÒ»–œJ¸

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@=;absolute address not found in virtual memory map of processÁ∏≥°JÁ

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
entry_SYSCALL_64_after_hwframe
ä⁄?	
Ò≈°=;absolute address not found in virtual memory map of processòûÄ<J∆

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
òüªÕ£è J–

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
‘Ù∂
Ù£"ÅÎæ∫J∂

__schedule

schedule" 
schedule_hrtimeout_range_clock
do_epoll_wait
__x64_sys_epoll_wait
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
∂ûBïÍã‹Jµ

__schedule

schedule" 
schedule_hrtimeout_range_clock
do_epoll_wait
__x64_sys_epoll_wait
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
∂ûBÉ≤Ù$JÈ

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
asm_exc_page_faultno build-id≥ûÌJ∫

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of processÿÕüJØ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframebinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on disk°ù˚…Jä

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@no build-id=;absolute address not found in virtual memory map of process∏»ØJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of processéÈ‚JÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of process£û˝JÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of process€Ê¬J–

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ÇÂß
Ù£"ÛÇÔ‹JÛ	

__schedule

schedule
schedule_timeout
__skb_wait_for_more_packets
__unix_dgram_recvmsg
sock_recvmsg
__sys_recvfrom
__x64_sys_recvfrom
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
Ù“BÌÛßJä

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@no build-id=;absolute address not found in virtual memory map of process·ŒïJ¸


__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@=;absolute address not found in virtual memory map of processãîƒ∏JÉ

__schedule

schedule
schedule_timeout

kdamond_fn	
kthread
ret_from_fork
ret_from_fork_asm®ùàÒJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of processÑÒ˚
JÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of processæ±∂+JÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ﬁ‘û=;absolute address not found in virtual memory map of process÷Ã¡0JÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of processﬂ∞÷Jp

__schedule

schedule
worker_thread	
kthread
ret_from_fork
ret_from_fork_asmò∏˝ÿJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of processÈ—ø	J„

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
asm_exc_page_fault
–ò2öóbJÖ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
√ªû=;absolute address not found in virtual memory map of process†ûÑñJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of processË˜¸?JÑ


__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@
ô√=;absolute address not found in virtual memory map of processåêÜ¬Jq

__schedule

schedule
rcu_gp_kthread	
kthread
ret_from_fork
ret_from_fork_asm’ºô®J∫

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process‡∫¿J 

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@no build-id‰ê_J˙

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@=;absolute address not found in virtual memory map of processÍ†eJ∫

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process∫äÌJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of processïÆí&JÖ

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
asm_exc_page_fault	
°√ó	
ô‡ñ	
»ïñ	
«˘ÑË¿yJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of process•ø”IJ®

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
asm_exc_page_faultno build-id=;absolute address not found in virtual memory map of processÅﬁ∫JÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
∫«û=;absolute address not found in virtual memory map of processÈ‡º@JÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of processÏ€ÕAJµ

__schedule

schedule" 
schedule_hrtimeout_range_clock
do_epoll_wait
__x64_sys_epoll_wait
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
∂ûB¢«ıJ∆

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ºÁùñéÔ‹J’

__schedule

schedule
anon_pipe_read

vfs_read
	ksys_read
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
ÏÖ>=;absolute address not found in virtual memory map of processÎ€ë◊J∑

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
entry_SYSCALL_64_after_hwframe
 ÿ?	
ãœ€	
ÉÙ¯	
Çµã	
ÿ∏ã	
£∫ã	
Ã∫ã	
Ó¥É	
ÌﬂŸ‡≠åJ∫

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process–ß¡JÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of processÑœúJË

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
asm_exc_page_faultno build-idÆ’QJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of processÚ≠£Jp

__schedule

schedule
worker_thread	
kthread
ret_from_fork
ret_from_fork_asm˘éœ‘J–

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
˙ÁÒ	
ºÁù˘∏Ì"JÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of processÁæ∞<J≠

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
entry_SYSCALL_64_after_hwframe
ä⁄?	
Ò≈°=;absolute address not found in virtual memory map of processˆÃ#Jé

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
entry_SYSCALL_64_after_hwframe
ä⁄?	
Ò≈°=;absolute address not found in virtual memory map of process¨ô JÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of processëµéJ∫

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of processÌïÛJ∫

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process≥àÏJp

__schedule

schedule
worker_thread	
kthread
ret_from_fork
ret_from_fork_asméè‡ŒJt

__schedule

schedule
smpboot_thread_fn	
kthread
ret_from_fork
ret_from_fork_asm†îû…JÙ

__schedule

schedule
io_schedule
folio_wait_bit_common
filemap_get_pages
filemap_read

vfs_read
	ksys_read
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
ÏÖ>no build-idno build-idﬂÜáJº

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
÷¡!˘§ÖJÖ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of process◊ÊµÅJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of processûﬂ¸(J∫

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process÷ä’Jœ

__schedule

schedule
do_nanosleep
hrtimer_nanosleep
common_nsleep_timens
__x64_sys_clock_nanosleep
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
≈Í3	
“Üµ=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process»¿∂JÇ

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
asm_exc_page_fault
º≈
∏º
Œ∆
˜÷÷’ûJ˙

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@=;absolute address not found in virtual memory map of processíîaJπ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of processÌ£ZJî	

__schedule

schedule" 
schedule_hrtimeout_range_clock%#
!poll_schedule_timeout.constprop.0
do_sys_poll
__x64_sys_poll
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
ÔÑ?=;absolute address not found in virtual memory map of process§ﬂæ◊J∫

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
´¬!=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of processû‘âJ≈

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
Ó¡π‘ÒËJº

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
´¬!ƒ¿èJù

__schedule

schedule
schedule_timeout
io_schedule_timeout" 
wait_for_completion_io_timeout
submit_bio_wait
blkdev_issue_discard
ext4_free_blocks
ext4_ext_remove_space
ext4_ext_truncate
ext4_truncate
ext4_evict_inode	
evict
do_unlinkat
__x64_sys_unlink
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
ó∂>	
Øˇû	
óËùﬂ¡ﬁJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of processºË«qJ∫

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process’‘ƒJ◊

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
entry_SYSCALL_64_after_hwframe
 ÿ?	
π≈°ñãŸJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of process‘Ë≥2JÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of process¶òçJ˚

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@=;absolute address not found in virtual memory map of processÈˇÅJ–

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ıÜü	
óËùÛ¸µJÂ

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
entry_SYSCALL_64_after_hwframe
 ÿ?	
˜µŒ=;absolute address not found in virtual memory map of processö«˜J®

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
asm_exc_page_faultno build-id=;absolute address not found in virtual memory map of process√ÖÕJ˚

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
÷¡!=;absolute address not found in virtual memory map of processπ†ÆJ»

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ﬁØπ¢≈ÀúJÈ

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
asm_exc_page_faultno build-idŸÛìJÒ

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
entry_SYSCALL_64_after_hwframe
 ÿ?	
ãœ€	
¶Ì¯	
Çµã	
ÿ∏ã	
£∫ã	
Ã∫ã	
Ó¥É	
ÌﬂŸò∂“JØ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframebinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on disk‹´€œJ§

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
entry_SYSCALL_64_after_hwframe
 ÿ?	
π≈°¢“ÎJ∆

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
àû¬≤ä≈±
JÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of process´ß√JØ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframebinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on disk¶é◊‚J∫

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of processÈ⁄™J˙

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@=;absolute address not found in virtual memory map of processéƒaJØ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframebinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on disk˚çµŒJπ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of processÑòUJπ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of processî˛_J®

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
asm_exc_page_faultno build-id=;absolute address not found in virtual memory map of process˘˝çJä

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@no build-id=;absolute address not found in virtual memory map of process»¨ÖJæ

__schedule

schedule" 
schedule_hrtimeout_range_clock
do_epoll_wait
__x64_sys_epoll_wait
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
∂ûB
Ù£"ïÇ”„J˚

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@=;absolute address not found in virtual memory map of process—çíJ∑

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
entry_SYSCALL_64_after_hwframe
 ÿ?	
ãœ€	
ŸÁı	
Ú–¯	
”◊¯	
îé˙	
ˇâÇ	
’≠É	
ÌﬂŸ≥·ÖJ∆

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
Ø≤üæ‘„∏J≈

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
Ùÿúﬂª¯pJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of processøÈø4JÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of processéõ—	JÂ

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
entry_SYSCALL_64_after_hwframe
 ÿ?	
‰∫Œ=;absolute address not found in virtual memory map of process—∆õJø

__schedule

schedule" 
schedule_hrtimeout_range_clock
do_epoll_wait
__x64_sys_epoll_wait
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
∂ûB	
±ÉÉ=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process©à¢µJp

__schedule

schedule
worker_thread	
kthread
ret_from_fork
ret_from_fork_asmÈéôËJ∫

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process‘ËñJä

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@no build-id=;absolute address not found in virtual memory map of process£µáJ∆

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ﬁØπîøÛÈVJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of processî•°JÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of process»∞ÌGJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of process–∆á@JÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of process‘≠µJt

__schedule

schedule
smpboot_thread_fn	
kthread
ret_from_fork
ret_from_fork_asm¸è‚ÆJ´

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
entry_SYSCALL_64_after_hwframe
 ÿ?	
˜µŒ=;absolute address not found in virtual memory map of processå©î	Jç?

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@no build-id=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of processåˆyJ∫

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of processÕÅÑJ»

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
òüªÇÓ©ﬁJ∫

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of processßÄ¢JÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ﬁ‘û=;absolute address not found in virtual memory map of processÌ‘”Jã

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@no build-id=;absolute address not found in virtual memory map of processÓ‘ûËJ»

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
àû¬ÆÏ∏’JÀ


__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@no build-idã£ÔJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of process„í¡J—

__schedule

schedule
do_nanosleep
hrtimer_nanosleep
common_nsleep_timens
__x64_sys_clock_nanosleep
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
≈Í3	
“Üµ≥ì‘Jπ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process≠‚rJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of processüÏíJ≈

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
Ùÿú”‹ËJÏ

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
asm_exc_page_fault
º≈
Ÿ¯=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of processΩ∏ºJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of process≥Éÿ.JÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of processÂ”πJ∫

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of processúˆéJ–

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
˙ÁÒ	
ﬁØπãóøJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of processâﬁ≠5Jã

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@no build-id=;absolute address not found in virtual memory map of process≥∆¡„JÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of process„∏îJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of processûÁ°JÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of process§ ˛Jú

__schedule

schedule
schedule_timeout
rcu_gp_fqs_loop
rcu_gp_kthread	
kthread
ret_from_fork
ret_from_fork_asm˜∑ûıJã	

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@no build-id=;absolute address not found in virtual memory map of process«÷Ï€Jp

__schedule

schedule
worker_thread	
kthread
ret_from_fork
ret_from_fork_asmÙ›úŸJ‰

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
asm_exc_page_fault
‡ñuÊ⁄ëJ∫

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
÷¡!‘€ÕJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of process∏ùŸ4JÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of processﬁÍÿJ«

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
òüªÊˇÔ&J∫

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of processø®ÌJ∫

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process∑¿ÉJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of processŒ›µ=Jπ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process◊ªNJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of processÇÑÕJÑ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©∞@	
ªù=;absolute address not found in virtual memory map of processÚÎè@