// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * dirtyscope lab: a small test framebuffer using fbdev deferred I/O (quirk Q3).
 *
 * A platform device "dslab_fb" parents one framebuffer of DSLAB_FB_NPAGES pages of vmalloc'ed
 * memory. Its deferred_io callback copies every listed page to a shadow screen (the "device
 * memory" a real driver would send the damage to) and counts calls and pages. A kretprobe on
 * the fbdev core's page_mkwrite handler can, one-shot when armed, hold the return of one
 * page_mkwrite for a chosen time: the fault has queued its page and scheduled the deferred work
 * but the core has not yet made the PTE writable. Whether a deferred run in that window loses
 * the write is the experiment (lab/agent/fbtest.c; lab/module/README.md, section fbdev).
 *
 * Control is sysfs, in /sys/bus/platform/devices/dslab_fb/:
 *   counters  (r)  defio_calls= defio_pages= mkwrite_calls= held= window_defio= last_window=
 *                  busy_at_release= probe=<symbol|none> delay_jiffies= hz= npages= fb=<fb index>
 *                  (window_defio: deferred_io calls completed during holds; busy_at_release:
 *                  holds that ended with the deferred work executing, i.e. blocked on the fault)
 *   arm       (rw) write "<page> <us>": the next page_mkwrite of that page (-1: any page) on
 *                  this framebuffer returns up to <us> microseconds late, or as soon as a
 *                  deferred_io call completes during the hold (0 disarms); read "page= us="
 *   peek      (rw) write "<page>", read "page= fb=<byte 0> shadow=<byte 0> diff=<bytes differing>"
 *   reset     (w)  zero the screen, the shadow and the counters; disarm
 * Written for the lab from the documented behaviour of the fbdev deferred I/O interface.
 */
#include <linux/module.h>
#include <linux/version.h>
#include <linux/platform_device.h>
#include <linux/fb.h>
#include <linux/vmalloc.h>
#include <linux/mm.h>
#include <linux/kprobes.h>
#include <linux/delay.h>
#include <linux/ktime.h>
#include <linux/atomic.h>
#include <linux/sysfs.h>
#include <linux/workqueue.h>

#ifndef CONFIG_FB_DEFERRED_IO
#error "dslab_fb needs CONFIG_FB_DEFERRED_IO"
#endif

#define DSLAB_FB_W 256
#define DSLAB_FB_H 64
#define DSLAB_FB_BPP 32
#define DSLAB_FB_LINE (DSLAB_FB_W * DSLAB_FB_BPP / 8)
#define DSLAB_FB_LEN (DSLAB_FB_LINE * DSLAB_FB_H)
#define DSLAB_FB_NPAGES (DSLAB_FB_LEN / PAGE_SIZE)
#define DSLAB_FB_MAX_HOLD_US 2000000UL

static unsigned int delay_ms = 20;
module_param(delay_ms, uint, 0444);
MODULE_PARM_DESC(delay_ms, "deferred I/O delay in milliseconds (default 20, i.e. HZ/50)");

static struct platform_device *dfb_pdev;
static struct fb_info *dfb_info;
static u8 *dfb_screen;
static u8 *dfb_shadow;
static u32 dfb_palette[16];
static struct fb_deferred_io dfb_defio;

static atomic_t defio_calls = ATOMIC_INIT(0);
static atomic_t defio_pages = ATOMIC_INIT(0);
static atomic_t mkwrite_calls = ATOMIC_INIT(0);
static atomic_t held = ATOMIC_INIT(0);
static atomic_t window_defio = ATOMIC_INIT(0);
static atomic_t last_window = ATOMIC_INIT(0);
static atomic_t busy_at_release = ATOMIC_INIT(0);
static atomic_long_t arm_page = ATOMIC_LONG_INIT(-1);
static atomic_long_t arm_us = ATOMIC_LONG_INIT(0);
static atomic_long_t peek_page = ATOMIC_LONG_INIT(0);

/* ---- deferred I/O: copy the listed pages to the shadow screen ---- */
static void dfb_deferred_io(struct fb_info *info, struct list_head *pagelist)
{
	struct fb_deferred_io_pageref *ref;

	list_for_each_entry(ref, pagelist, list) {
		unsigned long off = ref->offset & PAGE_MASK;

		if (off + PAGE_SIZE > DSLAB_FB_LEN)
			continue;
		memcpy(dfb_shadow + off, dfb_screen + off, PAGE_SIZE);
		atomic_inc(&defio_pages);
	}
	atomic_inc(&defio_calls);
}

/* ---- framebuffer ops: plain system-memory drawing (used by fbcon until it is unbound) ---- */
static int dfb_setcolreg(unsigned int regno, unsigned int red, unsigned int green,
			 unsigned int blue, unsigned int transp, struct fb_info *info)
{
	if (regno >= ARRAY_SIZE(dfb_palette))
		return -EINVAL;
	dfb_palette[regno] = ((red >> 8) << 16) | ((green >> 8) << 8) | (blue >> 8);
	return 0;
}

static const struct fb_ops dfb_ops = {
	.owner = THIS_MODULE,
	.fb_read = fb_sys_read,
	.fb_write = fb_sys_write,
	.fb_setcolreg = dfb_setcolreg,
	.fb_fillrect = sys_fillrect,
	.fb_copyarea = sys_copyarea,
	.fb_imageblit = sys_imageblit,
	.fb_mmap = fb_deferred_io_mmap,
};

/* ---- the hold: a kretprobe on the core's page_mkwrite handler ---- */
struct dfb_probe_sym {
	const char *name;
	unsigned int vmf_arg; /* which argument is the struct vm_fault * */
};

static const struct dfb_probe_sym dfb_syms[] = {
	{ "fb_deferred_io_mkwrite", 0 },
	{ "fb_deferred_io_page_mkwrite", 1 },
};

static const char *dfb_probe_name = "none";
static unsigned int dfb_vmf_arg;
static bool dfb_probe_on;

struct dfb_hold {
	unsigned long us;
};

static int dfb_mk_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct dfb_hold *h = (struct dfb_hold *)ri->data;
	struct vm_fault *vmf = (struct vm_fault *)regs_get_kernel_argument(regs, dfb_vmf_arg);
	long page;

	h->us = 0;
	if (!vmf || !vmf->vma || !vmf->vma->vm_file || vmf->vma->vm_file->private_data != dfb_info)
		return 0; /* another framebuffer */
	atomic_inc(&mkwrite_calls);
	page = atomic_long_read(&arm_page);
	if (page >= 0 && vmf->pgoff != (unsigned long)page)
		return 0;
	h->us = atomic_long_xchg(&arm_us, 0); /* one-shot */
	return 0;
}
NOKPROBE_SYMBOL(dfb_mk_entry);

static int dfb_mk_return(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct dfb_hold *h = (struct dfb_hold *)ri->data;
	int before, w;
	u64 t0;

	if (!h->us)
		return 0;
	/*
	 * The page is locked, queued, and the deferred work scheduled; the PTE is still
	 * read-only. Spin here (a probe handler cannot sleep) so the work can run meanwhile
	 * on another CPU; stop early once a deferred_io call has completed (any hold length
	 * is a possible schedule; this one is the shortest that shows the outcome).
	 */
	before = atomic_read(&defio_calls);
	t0 = ktime_get_ns();
	while (ktime_get_ns() - t0 < (u64)h->us * NSEC_PER_USEC) {
		if (atomic_read(&defio_calls) != before)
			break; /* a deferred run completed inside the window: enough */
		udelay(20);
	}
	w = atomic_read(&defio_calls) - before;
	atomic_inc(&held);
	atomic_add(w, &window_defio);
	atomic_set(&last_window, w);
	/* the deferred work still executing when the hold ends: it is waiting for this fault */
	if (work_busy(&dfb_info->deferred_work.work) & WORK_BUSY_RUNNING)
		atomic_inc(&busy_at_release);
	return 0;
}
NOKPROBE_SYMBOL(dfb_mk_return);

static struct kretprobe dfb_krp = {
	.handler = dfb_mk_return,
	.entry_handler = dfb_mk_entry,
	.data_size = sizeof(struct dfb_hold),
	.maxactive = 16,
};

static void dfb_probe_register(void)
{
	unsigned int i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(dfb_syms); i++) {
		dfb_krp.kp.symbol_name = dfb_syms[i].name;
		dfb_krp.kp.addr = NULL;
		dfb_vmf_arg = dfb_syms[i].vmf_arg;
		ret = register_kretprobe(&dfb_krp);
		if (!ret) {
			dfb_probe_name = dfb_syms[i].name;
			dfb_probe_on = true;
			return;
		}
		pr_info("dslab_fb: kretprobe on %s: %d\n", dfb_syms[i].name, ret);
		memset(&dfb_krp.kp, 0, sizeof(dfb_krp.kp));
	}
}

/* ---- sysfs ---- */
static ssize_t counters_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf,
			  "defio_calls=%d defio_pages=%d mkwrite_calls=%d held=%d window_defio=%d last_window=%d busy_at_release=%d probe=%s delay_jiffies=%lu hz=%d npages=%lu fb=%d\n",
			  atomic_read(&defio_calls), atomic_read(&defio_pages),
			  atomic_read(&mkwrite_calls), atomic_read(&held),
			  atomic_read(&window_defio), atomic_read(&last_window),
			  atomic_read(&busy_at_release), dfb_probe_name,
			  dfb_defio.delay, HZ, (unsigned long)DSLAB_FB_NPAGES, dfb_info->node);
}
static DEVICE_ATTR_RO(counters);

static ssize_t arm_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "page=%ld us=%ld\n", atomic_long_read(&arm_page),
			  atomic_long_read(&arm_us));
}

static ssize_t arm_store(struct device *dev, struct device_attribute *attr, const char *buf,
			 size_t count)
{
	long page;
	unsigned long us;

	if (sscanf(buf, "%ld %lu", &page, &us) != 2)
		return -EINVAL;
	if (page < -1 || page >= (long)DSLAB_FB_NPAGES || us > DSLAB_FB_MAX_HOLD_US)
		return -EINVAL;
	if (us && !dfb_probe_on)
		return -ENOSYS;
	atomic_long_set(&arm_us, 0);
	atomic_long_set(&arm_page, page);
	atomic_long_set(&arm_us, us);
	return count;
}
static DEVICE_ATTR_RW(arm);

static ssize_t peek_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	unsigned long page = atomic_long_read(&peek_page);
	unsigned long off = page * PAGE_SIZE, i, diff = 0;

	for (i = 0; i < PAGE_SIZE; i++)
		diff += READ_ONCE(dfb_screen[off + i]) != READ_ONCE(dfb_shadow[off + i]);
	return sysfs_emit(buf, "page=%lu fb=%u shadow=%u diff=%lu\n", page,
			  READ_ONCE(dfb_screen[off]), READ_ONCE(dfb_shadow[off]), diff);
}

static ssize_t peek_store(struct device *dev, struct device_attribute *attr, const char *buf,
			  size_t count)
{
	unsigned long page;

	if (kstrtoul(buf, 10, &page) || page >= DSLAB_FB_NPAGES)
		return -EINVAL;
	atomic_long_set(&peek_page, page);
	return count;
}
static DEVICE_ATTR_RW(peek);

static ssize_t reset_store(struct device *dev, struct device_attribute *attr, const char *buf,
			   size_t count)
{
	atomic_long_set(&arm_us, 0);
	atomic_long_set(&arm_page, -1);
	memset(dfb_screen, 0, DSLAB_FB_LEN);
	memset(dfb_shadow, 0, DSLAB_FB_LEN);
	atomic_set(&defio_calls, 0);
	atomic_set(&defio_pages, 0);
	atomic_set(&mkwrite_calls, 0);
	atomic_set(&held, 0);
	atomic_set(&window_defio, 0);
	atomic_set(&last_window, 0);
	atomic_set(&busy_at_release, 0);
	return count;
}
static DEVICE_ATTR_WO(reset);

static struct attribute *dfb_attrs[] = {
	&dev_attr_counters.attr,
	&dev_attr_arm.attr,
	&dev_attr_peek.attr,
	&dev_attr_reset.attr,
	NULL,
};

static const struct attribute_group dfb_group = {
	.attrs = dfb_attrs,
};

/* ---- setup ---- */
static int __init dfb_init(void)
{
	struct fb_info *info;
	int ret;

	dfb_pdev = platform_device_register_simple("dslab_fb", -1, NULL, 0);
	if (IS_ERR(dfb_pdev))
		return PTR_ERR(dfb_pdev);

	ret = -ENOMEM;
	dfb_screen = vzalloc(DSLAB_FB_LEN);
	dfb_shadow = vzalloc(DSLAB_FB_LEN);
	if (!dfb_screen || !dfb_shadow)
		goto err_mem;
	info = framebuffer_alloc(0, &dfb_pdev->dev);
	if (!info)
		goto err_mem;
	dfb_info = info;

	strscpy(info->fix.id, "dslab_fb", sizeof(info->fix.id));
	info->fix.type = FB_TYPE_PACKED_PIXELS;
	info->fix.visual = FB_VISUAL_TRUECOLOR;
	info->fix.line_length = DSLAB_FB_LINE;
	info->fix.smem_len = DSLAB_FB_LEN;
	info->fix.accel = FB_ACCEL_NONE;
	info->var.xres = DSLAB_FB_W;
	info->var.yres = DSLAB_FB_H;
	info->var.xres_virtual = DSLAB_FB_W;
	info->var.yres_virtual = DSLAB_FB_H;
	info->var.bits_per_pixel = DSLAB_FB_BPP;
	info->var.red.offset = 16;
	info->var.red.length = 8;
	info->var.green.offset = 8;
	info->var.green.length = 8;
	info->var.blue.offset = 0;
	info->var.blue.length = 8;
	info->var.activate = FB_ACTIVATE_NOW;
	info->var.height = -1;
	info->var.width = -1;
	info->var.vmode = FB_VMODE_NONINTERLACED;
	info->screen_buffer = dfb_screen;
	info->screen_size = DSLAB_FB_LEN;
	info->pseudo_palette = dfb_palette;
	info->fbops = &dfb_ops;
	info->flags = FBINFO_VIRTFB;

	dfb_defio.delay = max_t(unsigned long, 1, msecs_to_jiffies(delay_ms));
	dfb_defio.deferred_io = dfb_deferred_io;
	info->fbdefio = &dfb_defio;
	ret = fb_deferred_io_init(info);
	if (ret)
		goto err_fb;

	ret = register_framebuffer(info);
	if (ret)
		goto err_defio;

	ret = sysfs_create_group(&dfb_pdev->dev.kobj, &dfb_group);
	if (ret)
		goto err_reg;

	dfb_probe_register();
	pr_info("dslab_fb: fb%d, %lu pages, delay %lu jiffies (HZ=%d), probe %s\n", info->node,
		(unsigned long)DSLAB_FB_NPAGES, dfb_defio.delay, HZ, dfb_probe_name);
	return 0;

err_reg:
	unregister_framebuffer(info);
err_defio:
	fb_deferred_io_cleanup(info);
err_fb:
	framebuffer_release(info);
	dfb_info = NULL;
err_mem:
	vfree(dfb_shadow);
	vfree(dfb_screen);
	platform_device_unregister(dfb_pdev);
	return ret;
}

static void __exit dfb_exit(void)
{
	if (dfb_probe_on)
		unregister_kretprobe(&dfb_krp);
	sysfs_remove_group(&dfb_pdev->dev.kobj, &dfb_group);
	unregister_framebuffer(dfb_info);
	fb_deferred_io_cleanup(dfb_info);
	framebuffer_release(dfb_info);
	vfree(dfb_shadow);
	vfree(dfb_screen);
	platform_device_unregister(dfb_pdev);
}

module_init(dfb_init);
module_exit(dfb_exit);
MODULE_LICENSE("Dual MIT/GPL");
MODULE_DESCRIPTION("dirtyscope lab: test fbdev driver with deferred I/O and a page_mkwrite hold");
