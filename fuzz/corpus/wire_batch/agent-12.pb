
vm¤ùãæàîÈõƒ² ÃäîÈõ"off-cpu*nanoseconds0:;
“¬aìZ±9oŸ½51i¥XRŠ@#/usr/lib/x86_64-linux-gnu/libc.so.6:)
5¶5zXw0Q9blà<Íğ¸/tmp/daybin/augur:5
6pì¦İæópı}ÆÚÎ//work/main/target/debug/augurBU

hostvm!
exe/memfd:sealed-91173221a7ea$
servicememfd:sealed-91173221a7eaB‡4
build_id(133510b6357a025877305139626ce03c01cdf0b8

hostvm
version133510b6357a
exe/tmp/daybin/augur
serviceaugurBi

hostvmI
exeB/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/rustc
servicerustcB$
servicercu_preempt

hostvmBU

hostvm$
servicememfd:sealed-91173221a7ea!
exe/memfd:sealed-91173221a7eaB"

hostvm
service	kdamond.0B‡
serviceaugur
version133510b6357a4
build_id(133510b6357a025877305139626ce03c01cdf0b8

hostvm
exe/tmp/daybin/augurBU!
exe/memfd:sealed-91173221a7ea$
servicememfd:sealed-91173221a7ea

hostvmB%

hostvm
servicekworker/1:1HB$

hostvm
serviceksoftirqd/1B•
serviceaugur
version133510b6357a

hostvm4
build_id(133510b6357a025877305139626ce03c01cdf0b8&
exe/work/main/target/release/augurB“

hostvm
version3670eca608dd
serviceaugur$
exe/work/main/target/debug/augur4
build_id(3670eca608dd0b12e6f370fd7d8e1103c6dace2fB%

hostvm
servicekworker/0:1HB$

hostvm
servicekworker/0:1BU

hostvm!
exe/memfd:sealed-91173221a7ea$
servicememfd:sealed-91173221a7eaBi
servicecargoI
exeB/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/cargo

hostvmB$

hostvm
servicekworker/1:1BU$
servicememfd:sealed-91173221a7ea!
exe/memfd:sealed-91173221a7ea

hostvmB%

hostvm
servicekworker/u8:2B#

hostvm
service
kcompactd0B%

hostvm
servicekworker/u8:1BiI
exeB/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/cargo

hostvm
servicecargoBi

hostvm
servicecargoI
exeB/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/cargoBiI
exeB/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/rustc

hostvm
servicerustcJ­

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframebinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on disk“÷ŞJÒ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
úçñ	
Ş¯¹é™†J†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of processñÀƒJÈ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
Ş¯¹á‡î’dJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of processµÂÿJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of process¹åİJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of processÿÂóJé

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
asm_exc_page_faultno build-id†ËJÈ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
ôØœ”åºJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of processº‚£J†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of process™ÿJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of processçÀğJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
ºÇ=;absolute address not found in virtual memory map of processµÜõcJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of processâ¡òJé

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
asm_exc_page_faultno build-id’ËôJq

__schedule

schedule
rcu_gp_kthread	
kthread
ret_from_fork
ret_from_fork_asmİÀJ¯

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframebinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskÿ‹ÌJƒ

__schedule

schedule
schedule_timeout

kdamond_fn	
kthread
ret_from_fork
ret_from_fork_asmùªëJé

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
asm_exc_page_faultno build-idåÉ‹JÈ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
ˆÂ’¥©ÅJ¯

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframebinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on disküãÈJp

__schedule

schedule
worker_thread	
kthread
ret_from_fork
ret_from_fork_asmÁ‘ÏJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of processµá¯J¯

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
ŠÚ?	
ñÅ¡=;absolute address not found in virtual memory map of processõ¶ÄtJt	

__schedule

schedule
smpboot_thread_fn	
kthread
ret_from_fork
ret_from_fork_asmšŸÂæJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of process¡œàJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of processÀÚÈJÇ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
ôØœÅŒ—J†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of processûÖñ&JÏ


__schedule

schedule
do_nanosleep
hrtimer_nanosleep
common_nsleep_timens
__x64_sys_clock_nanosleep
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
Åê3	
Ò†µ=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of processïµJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
ŞÔ=;absolute address not found in virtual memory map of process×ğÎJ¾

__schedule

schedule" 
schedule_hrtimeout_range_clock
do_epoll_wait
__x64_sys_epoll_wait
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
¶B
ô£"Ÿ˜ÔâJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of processˆ³JÈ
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
©°@	
Ş¯¹øÆ©ñJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
ŞÔ=;absolute address not found in virtual memory map of process»å¾0J†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of processÁâòJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of process„«J†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
Ã»=;absolute address not found in virtual memory map of processò¯æ]Jû

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
ÖÁ!=;absolute address not found in virtual memory map of process´§ŒJÈ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
¼çéÙ°ŞJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of processÒñÂ,Jp

__schedule

schedule
worker_thread	
kthread
ret_from_fork
ret_from_fork_asm¹¦ ÙJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of process¡Œø3Jé

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
asm_exc_page_faultno build-idĞ‘ùJ¿


__schedule

schedule" 
schedule_hrtimeout_range_clock
do_epoll_wait
__x64_sys_epoll_wait
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
¶B	
±ƒƒ=;absolute address not found in virtual memory map of process=;absolute address not found in virtual memory map of process×ğËÓJp

__schedule

schedule
worker_thread	
kthread
ret_from_fork
ret_from_fork_asmåÅûØJĞ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
Ôô¶
ô£"¨„‹ÆJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of processôû J¯

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframebinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on disk²œ³ÌJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of processåäÀ*J‹

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@no build-id=;absolute address not found in virtual memory map of process´˜§èJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of processÕıÃJÑ


__schedule

schedule
do_nanosleep
hrtimer_nanosleep
common_nsleep_timens
__x64_sys_clock_nanosleep
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
Åê3	
Ò†µ§ÇêJp

__schedule

schedule
worker_thread	
kthread
ret_from_fork
ret_from_fork_asm²ÁØJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of processƒÃEJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of process¾ØÍJª


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
ÊØ?	
÷µÎ=;absolute address not found in virtual memory map of processÿ‘TJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of process…„òRJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of processÛ°çJ¶

__schedule

schedule" 
schedule_hrtimeout_range_clock
do_epoll_wait
__x64_sys_epoll_wait
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
¶B ßÅúJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of process»ì•+J›

__schedule

schedule
schedule_timeout
rcu_gp_fqs_loop
rcu_gp_kthread	
kthread
ret_from_fork
ret_from_fork_asmƒëJ¯

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframebinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskbinary replaced on diskƒ€ÇİJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of processÏ÷•J

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
ŠÚ?	
ñÅ¡=;absolute address not found in virtual memory map of processèƒØ	J¦

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
ÊØ?	
¹Å¡‹ŸáJp

__schedule

schedule
worker_thread	
kthread
ret_from_fork
ret_from_fork_asmÃÃæ¯J†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of process‡ÅÙ_JÙ

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
ÊØ?	
¹Å¡³ÍJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of processòªJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of processàÂ¯+Jû

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
ÖÁ!=;absolute address not found in virtual memory map of process¯íåSJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of processø¤ÂJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of processí›¸Jµ

__schedule

schedule" 
schedule_hrtimeout_range_clock
do_epoll_wait
__x64_sys_epoll_wait
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
¶B––ÙJÈ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
ˆÂÌ¢‘¼J†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of processşíXJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of processŒ…ŞJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of process°Ä€"JÈ
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
©°@	
˜Ÿ»€ø­·JÈ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
˜Ÿ»İ¢¹ÖJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of processòš•JĞ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
‚å§
ô£"‘ëÌàJ‚

__schedule

schedule
schedule_timeout
	kcompactd	
kthread
ret_from_fork
ret_from_fork_asmÑù¡èJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of process…ÒùJp

__schedule

schedule
worker_thread	
kthread
ret_from_fork
ret_from_fork_asmŞ¾ÁÓJ‹

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@no build-id=;absolute address not found in virtual memory map of process¹†²èJ¶


__schedule

schedule" 
schedule_hrtimeout_range_clock
do_epoll_wait
__x64_sys_epoll_wait
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
¶Bÿğ·J‹

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@no build-id=;absolute address not found in virtual memory map of processóØóÜJ†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of processœ¦®J†

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
»ğ=;absolute address not found in virtual memory map of processÇ¼ä;Jé

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
ŠÚ?	
ñÅ¡=;absolute address not found in virtual memory map of processê’¹Jû

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
ÖÁ!=;absolute address not found in virtual memory map of processÖ‘ğ/J¨

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
asm_exc_page_faultno build-id=;absolute address not found in virtual memory map of processó¸J¨

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
asm_exc_page_faultno build-id=;absolute address not found in virtual memory map of processç³ÄJÇ

__schedule

schedule
futex_do_wait
__futex_wait

futex_wait

do_futex
__x64_sys_futex
do_syscall_64" 
entry_SYSCALL_64_after_hwframe
©°@	
¯²ŸŒåÆ