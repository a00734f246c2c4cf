// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * dirtyscope lab test driver.
 *
 * Two misc devices whose mappings are tracked the way the real clients of the
 * shared-mapping dirty helpers track them:
 *   /dev/dslab_pfn   VM_PFNMAP, .fault inserts the pfn, .pfn_mkwrite records (vmwgfx style)
 *   /dev/dslab_page  VM_MIXEDMAP, .fault hands out the struct page, .page_mkwrite records
 *                    and returns the page locked
 * plus ioctls that run wp_shared_mapping_range, clean_record_shared_mapping_range and
 * (6.15+) mapping_wrprotect_range on the device's address space, a vmwgfx-like
 * validation scan, a consumer-side verification and a raw PTE read.
 * The contract with the guest agent is lab/PROTOCOL.md; the ioctl layout is dslab_uapi.h.
 * Written for the lab from the documented behaviour of the kernel interfaces it calls.
 */
#include <linux/module.h>
#include <linux/version.h>
#include <linux/miscdevice.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/pagemap.h>
#include <linux/rmap.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <linux/mutex.h>
#include <linux/delay.h>
#include <linux/uaccess.h>
#include <linux/rcupdate.h>
#include <linux/atomic.h>
#include <linux/bitmap.h>
#include <linux/pgtable.h>

#include "dslab_uapi.h"

#define DSLAB_ORDER 6
#define DSLAB_MAX_DELAY_US 10000000UL

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 15, 0)
#define DSLAB_HAVE_WRPROTECT 1
#else
#define DSLAB_HAVE_WRPROTECT 0
#endif

#if (1 << DSLAB_ORDER) != DSLAB_NPAGES
#error "DSLAB_ORDER does not match DSLAB_NPAGES"
#endif

struct dslab_dev {
	struct miscdevice misc;
	int kind;
	struct page *pages[DSLAB_NPAGES];
	unsigned long base_pfn;
	u8 *shadow;			/* the consumer's copy ("device memory") */

	/* The address space shared by every open of the device. */
	struct mutex map_lock;
	struct inode *inode;		/* holds a reference while mapping is in use */
	struct address_space *mapping;

	struct mutex lock;		/* the driver's lock (the BO reservation) */
	DECLARE_BITMAP(mbits, DSLAB_NPAGES);	/* written pages recorded by mkwrite */

	struct mutex cb_lock;
	DECLARE_BITMAP(cbits, DSLAB_NPAGES);	/* bitmap handed to clean_record */

	atomic64_t mk;
	atomic64_t flt;
	unsigned long delay_us;
};

static struct dslab_dev dslab_devs[DSLAB_NDEVS];

static void dslab_set_flags(struct vm_area_struct *vma, unsigned long flags)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	vm_flags_set(vma, flags);
#else
	vma->vm_flags |= flags;
#endif
}

static void dslab_after_mkwrite(struct dslab_dev *d, pgoff_t off)
{
	unsigned long us;

	atomic64_inc(&d->mk);
	mutex_lock(&d->lock);
	set_bit(off, d->mbits);
	mutex_unlock(&d->lock);
	us = READ_ONCE(d->delay_us);
	if (us)
		fsleep(us);
}

/* ---- /dev/dslab_pfn ---- */

static vm_fault_t dslab_pfn_fault(struct vm_fault *vmf)
{
	struct dslab_dev *d = vmf->vma->vm_private_data;

	if (vmf->pgoff >= DSLAB_NPAGES)
		return VM_FAULT_SIGBUS;
	atomic64_inc(&d->flt);
	return vmf_insert_pfn(vmf->vma, vmf->address, d->base_pfn + vmf->pgoff);
}

static vm_fault_t dslab_pfn_mkwrite(struct vm_fault *vmf)
{
	struct dslab_dev *d = vmf->vma->vm_private_data;

	if (vmf->pgoff >= DSLAB_NPAGES)
		return VM_FAULT_SIGBUS;
	dslab_after_mkwrite(d, vmf->pgoff);
	return 0;
}

static const struct vm_operations_struct dslab_pfn_vm_ops = {
	.fault = dslab_pfn_fault,
	.pfn_mkwrite = dslab_pfn_mkwrite,
};

/* ---- /dev/dslab_page ---- */

static vm_fault_t dslab_page_fault(struct vm_fault *vmf)
{
	struct dslab_dev *d = vmf->vma->vm_private_data;
	struct page *page;

	if (vmf->pgoff >= DSLAB_NPAGES)
		return VM_FAULT_SIGBUS;
	atomic64_inc(&d->flt);
	page = d->pages[vmf->pgoff];
	get_page(page);
	vmf->page = page;
	return 0;
}

static vm_fault_t dslab_page_mkwrite(struct vm_fault *vmf)
{
	struct dslab_dev *d = vmf->vma->vm_private_data;

	if (vmf->pgoff >= DSLAB_NPAGES)
		return VM_FAULT_SIGBUS;
	dslab_after_mkwrite(d, vmf->pgoff);
	folio_lock(page_folio(vmf->page));
	return VM_FAULT_LOCKED;
}

static const struct vm_operations_struct dslab_page_vm_ops = {
	.fault = dslab_page_fault,
	.page_mkwrite = dslab_page_mkwrite,
};

/* ---- file operations ---- */

static struct dslab_dev *dslab_from_file(struct file *file)
{
	return container_of(file->private_data, struct dslab_dev, misc);
}

/*
 * A character device's file gets the i_mapping of the inode it was opened through
 * (the device node), so two nodes for the same device would have two address spaces.
 * The first open fixes the device's address space and every later open is pointed at
 * it, the way DRM points every open at its device's own inode.
 */
static int dslab_open(struct inode *inode, struct file *file)
{
	struct dslab_dev *d = dslab_from_file(file);

	mutex_lock(&d->map_lock);
	if (!d->mapping) {
		ihold(inode);
		d->inode = inode;
		d->mapping = inode->i_mapping;
	}
	file->f_mapping = d->mapping;
	mutex_unlock(&d->map_lock);
	return 0;
}

static int dslab_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct dslab_dev *d = dslab_from_file(file);
	unsigned long npages = vma_pages(vma);

	/* Like TTM: a private mapping that could be written would need COW of device memory. */
	if (!(vma->vm_flags & VM_SHARED) && (vma->vm_flags & VM_MAYWRITE))
		return -EINVAL;
	if (vma->vm_pgoff >= DSLAB_NPAGES || npages > DSLAB_NPAGES - vma->vm_pgoff)
		return -EINVAL;
	vma->vm_private_data = d;
	if (d->kind == DSLAB_DEV_PFN) {
		vma->vm_ops = &dslab_pfn_vm_ops;
		dslab_set_flags(vma, VM_PFNMAP | VM_IO | VM_DONTEXPAND | VM_DONTDUMP);
	} else {
		vma->vm_ops = &dslab_page_vm_ops;
		dslab_set_flags(vma, VM_MIXEDMAP | VM_DONTEXPAND | VM_DONTDUMP);
	}
	return 0;
}

static void dslab_copy_page(struct dslab_dev *d, unsigned long i)
{
	memcpy(d->shadow + i * PAGE_SIZE, page_address(d->pages[i]), PAGE_SIZE);
}

static long dslab_scan(struct dslab_dev *d, struct dslab_scan *s)
{
	unsigned long i;

	if (s->nr > DSLAB_NPAGES || s->first > DSLAB_NPAGES - s->nr)
		return -EINVAL;
	if (s->mode != DSLAB_SCAN_CONSUME && s->mode != DSLAB_SCAN_FIX)
		return -EINVAL;
	bitmap_zero((unsigned long *)s->bits, DSLAB_NPAGES);
	s->ret = 0;
	mutex_lock(&d->lock);
	if (s->mode == DSLAB_SCAN_CONSUME) {
		wp_shared_mapping_range(d->mapping, s->first, s->nr);
		for (i = s->first; i < s->first + s->nr; i++) {
			if (!test_bit(i, d->mbits))
				continue;
			clear_bit(i, d->mbits);
			dslab_copy_page(d, i);
			set_bit(i, (unsigned long *)s->bits);
			s->ret++;
		}
	} else {
		/*
		 * Page by page, no range-wide wp first: a recorded page is taken only if
		 * write-protecting it found a writable PTE, i.e. the write that was recorded has
		 * landed. Otherwise the fault that set the bit has not made its PTE writable yet,
		 * and the bit stays for the next scan.
		 */
		for (i = s->first; i < s->first + s->nr; i++) {
			unsigned long r = wp_shared_mapping_range(d->mapping, i, 1);

			if (!test_bit(i, d->mbits) || r == 0)
				continue;
			clear_bit(i, d->mbits);
			dslab_copy_page(d, i);
			set_bit(i, (unsigned long *)s->bits);
			s->ret++;
		}
	}
	mutex_unlock(&d->lock);
	return 0;
}

static void dslab_reset(struct dslab_dev *d)
{
	unsigned long i;

	mutex_lock(&d->lock);
	for (i = 0; i < DSLAB_NPAGES; i++)
		memset(page_address(d->pages[i]), 0, PAGE_SIZE);
	memset(d->shadow, 0, DSLAB_NPAGES * PAGE_SIZE);
	bitmap_zero(d->mbits, DSLAB_NPAGES);
	mutex_unlock(&d->lock);
	mutex_lock(&d->cb_lock);
	bitmap_zero(d->cbits, DSLAB_NPAGES);
	mutex_unlock(&d->cb_lock);
	atomic64_set(&d->mk, 0);
	atomic64_set(&d->flt, 0);
	WRITE_ONCE(d->delay_us, 0);
}

/*
 * The raw PTE mapping addr in the caller's mm, read without the page table lock (a
 * snapshot): 0 when no PTE table exists or a level maps a huge page.
 */
static int dslab_read_pte(unsigned long addr, u64 *ptev)
{
	struct mm_struct *mm = current->mm;
	pgd_t *pgdp;
	p4d_t *p4dp;
	pud_t *pudp, pud;
	pmd_t *pmdp, pmd;
	pte_t *ptep;

	*ptev = 0;
	if (!mm || addr >= TASK_SIZE_MAX)
		return -EFAULT;
	mmap_read_lock(mm);
	rcu_read_lock();
	pgdp = pgd_offset(mm, addr);
	if (pgd_none(READ_ONCE(*pgdp)) || pgd_bad(READ_ONCE(*pgdp)))
		goto out;
	p4dp = p4d_offset(pgdp, addr);
	if (p4d_none(READ_ONCE(*p4dp)) || p4d_bad(READ_ONCE(*p4dp)))
		goto out;
	pudp = pud_offset(p4dp, addr);
	pud = READ_ONCE(*pudp);
	if (pud_none(pud) || !pud_present(pud) || pud_leaf(pud) || pud_bad(pud))
		goto out;
	pmdp = pmd_offset(pudp, addr);
	pmd = READ_ONCE(*pmdp);
	if (pmd_none(pmd) || !pmd_present(pmd) || pmd_leaf(pmd) || pmd_bad(pmd))
		goto out;
	ptep = pte_offset_kernel(&pmd, addr);
	*ptev = pte_val(ptep_get(ptep));
out:
	rcu_read_unlock();
	mmap_read_unlock(mm);
	return 0;
}

static long dslab_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct dslab_dev *d = dslab_from_file(file);
	void __user *uarg = (void __user *)arg;
	long ret = 0;

	switch (cmd) {
	case DSLAB_IOC_INFO: {
		struct dslab_info info = {
			.npages = DSLAB_NPAGES,
			.wrprotect = DSLAB_HAVE_WRPROTECT,
		};

		return copy_to_user(uarg, &info, sizeof(info)) ? -EFAULT : 0;
	}
	case DSLAB_IOC_WP: {
		struct dslab_range r;

		if (copy_from_user(&r, uarg, sizeof(r)))
			return -EFAULT;
		if (r.first + r.nr < r.first)
			return -EINVAL;
		r.ret = wp_shared_mapping_range(d->mapping, r.first, r.nr);
		return copy_to_user(uarg, &r, sizeof(r)) ? -EFAULT : 0;
	}
	case DSLAB_IOC_CLEAN: {
		struct dslab_clean c;
		pgoff_t start, end;

		if (copy_from_user(&c, uarg, sizeof(c)))
			return -EFAULT;
		if (c.first + c.nr < c.first || c.bpgoff > c.first ||
		    c.first + c.nr - c.bpgoff > DSLAB_NPAGES)
			return -EINVAL;
		start = c.start;
		end = c.end;
		mutex_lock(&d->cb_lock);
		c.ret = clean_record_shared_mapping_range(d->mapping, c.first, c.nr, c.bpgoff,
							  d->cbits, &start, &end);
		bitmap_to_arr64(c.cbits, d->cbits, DSLAB_NPAGES);
		mutex_unlock(&d->cb_lock);
		c.start = start;
		c.end = end;
		return copy_to_user(uarg, &c, sizeof(c)) ? -EFAULT : 0;
	}
	case DSLAB_IOC_WRPROTECT: {
		struct dslab_range r;

		if (copy_from_user(&r, uarg, sizeof(r)))
			return -EFAULT;
#if DSLAB_HAVE_WRPROTECT
		if (r.nr > DSLAB_NPAGES || r.first > DSLAB_NPAGES - r.nr)
			return -EINVAL;
		r.ret = (u64)(s64)mapping_wrprotect_range(d->mapping, r.first,
							  d->base_pfn + r.first, r.nr);
		return copy_to_user(uarg, &r, sizeof(r)) ? -EFAULT : 0;
#else
		return -ENOSYS;
#endif
	}
	case DSLAB_IOC_BITS: {
		struct dslab_bits b;

		if (copy_from_user(&b, uarg, sizeof(b)))
			return -EFAULT;
		mutex_lock(&d->lock);
		bitmap_to_arr64(b.mbits, d->mbits, DSLAB_NPAGES);
		if (b.clear)
			bitmap_zero(d->mbits, DSLAB_NPAGES);
		mutex_unlock(&d->lock);
		mutex_lock(&d->cb_lock);
		bitmap_to_arr64(b.cbits, d->cbits, DSLAB_NPAGES);
		if (b.clear)
			bitmap_zero(d->cbits, DSLAB_NPAGES);
		mutex_unlock(&d->cb_lock);
		if (b.clear) {
			b.mk = atomic64_xchg(&d->mk, 0);
			b.flt = atomic64_xchg(&d->flt, 0);
		} else {
			b.mk = atomic64_read(&d->mk);
			b.flt = atomic64_read(&d->flt);
		}
		return copy_to_user(uarg, &b, sizeof(b)) ? -EFAULT : 0;
	}
	case DSLAB_IOC_COUNTS: {
		struct dslab_counts c;
		int i;

		for (i = 0; i < DSLAB_NDEVS; i++) {
			c.mk[i] = atomic64_read(&dslab_devs[i].mk);
			c.flt[i] = atomic64_read(&dslab_devs[i].flt);
		}
		return copy_to_user(uarg, &c, sizeof(c)) ? -EFAULT : 0;
	}
	case DSLAB_IOC_DELAY: {
		u64 us;

		if (copy_from_user(&us, uarg, sizeof(us)))
			return -EFAULT;
		if (us > DSLAB_MAX_DELAY_US)
			return -EINVAL;
		WRITE_ONCE(d->delay_us, (unsigned long)us);
		return 0;
	}
	case DSLAB_IOC_SCAN: {
		struct dslab_scan s;

		if (copy_from_user(&s, uarg, sizeof(s)))
			return -EFAULT;
		ret = dslab_scan(d, &s);
		if (ret)
			return ret;
		return copy_to_user(uarg, &s, sizeof(s)) ? -EFAULT : 0;
	}
	case DSLAB_IOC_VERIFY: {
		struct dslab_verify v;
		DECLARE_BITMAP(stale, DSLAB_NPAGES);
		unsigned long i;

		bitmap_zero(stale, DSLAB_NPAGES);
		for (i = 0; i < DSLAB_NPAGES; i++)
			if (memcmp(page_address(d->pages[i]), d->shadow + i * PAGE_SIZE, PAGE_SIZE))
				set_bit(i, stale);
		bitmap_to_arr64(v.stale, stale, DSLAB_NPAGES);
		return copy_to_user(uarg, &v, sizeof(v)) ? -EFAULT : 0;
	}
	case DSLAB_IOC_RESET:
		dslab_reset(d);
		return 0;
	case DSLAB_IOC_PTE: {
		struct dslab_pte p;

		if (copy_from_user(&p, uarg, sizeof(p)))
			return -EFAULT;
		ret = dslab_read_pte(p.addr, &p.pte);
		if (ret)
			return ret;
		p.present = pte_none(__pte(p.pte)) ? 0 : 1;
		return copy_to_user(uarg, &p, sizeof(p)) ? -EFAULT : 0;
	}
	default:
		return -ENOTTY;
	}
}

static const struct file_operations dslab_fops = {
	.owner = THIS_MODULE,
	.open = dslab_open,
	.mmap = dslab_mmap,
	.unlocked_ioctl = dslab_ioctl,
	.llseek = noop_llseek,
};

static void dslab_free(struct dslab_dev *d)
{
	unsigned long i;

	for (i = 0; i < DSLAB_NPAGES; i++) {
		if (d->pages[i])
			__free_page(d->pages[i]);
		d->pages[i] = NULL;
	}
	vfree(d->shadow);
	d->shadow = NULL;
}

static int dslab_setup(struct dslab_dev *d, int kind, const char *name)
{
	struct page *page;
	unsigned long i;
	int err;

	d->kind = kind;
	mutex_init(&d->map_lock);
	mutex_init(&d->lock);
	mutex_init(&d->cb_lock);
	atomic64_set(&d->mk, 0);
	atomic64_set(&d->flt, 0);
	/* One physically contiguous block, split so each page has its own reference. */
	page = alloc_pages(GFP_KERNEL | __GFP_ZERO, DSLAB_ORDER);
	if (!page)
		return -ENOMEM;
	split_page(page, DSLAB_ORDER);
	d->base_pfn = page_to_pfn(page);
	for (i = 0; i < DSLAB_NPAGES; i++)
		d->pages[i] = pfn_to_page(d->base_pfn + i);
	d->shadow = vzalloc(DSLAB_NPAGES * PAGE_SIZE);
	if (!d->shadow) {
		dslab_free(d);
		return -ENOMEM;
	}
	d->misc.minor = MISC_DYNAMIC_MINOR;
	d->misc.name = name;
	d->misc.fops = &dslab_fops;
	d->misc.mode = 0666;
	err = misc_register(&d->misc);
	if (err) {
		dslab_free(d);
		return err;
	}
	return 0;
}

static void dslab_teardown(struct dslab_dev *d)
{
	misc_deregister(&d->misc);
	if (d->inode)
		iput(d->inode);
	d->inode = NULL;
	d->mapping = NULL;
	dslab_free(d);
}

static int __init dslab_init(void)
{
	int err;

	err = dslab_setup(&dslab_devs[DSLAB_DEV_PFN], DSLAB_DEV_PFN, "dslab_pfn");
	if (err)
		return err;
	err = dslab_setup(&dslab_devs[DSLAB_DEV_PAGE], DSLAB_DEV_PAGE, "dslab_page");
	if (err) {
		dslab_teardown(&dslab_devs[DSLAB_DEV_PFN]);
		return err;
	}
	pr_info("dslab: %d pages per device, pfn base %lx / %lx, wrprotect=%d\n",
		DSLAB_NPAGES, dslab_devs[0].base_pfn, dslab_devs[1].base_pfn,
		DSLAB_HAVE_WRPROTECT);
	return 0;
}

static void __exit dslab_exit(void)
{
	dslab_teardown(&dslab_devs[DSLAB_DEV_PAGE]);
	dslab_teardown(&dslab_devs[DSLAB_DEV_PFN]);
}

module_init(dslab_init);
module_exit(dslab_exit);
MODULE_LICENSE("Dual MIT/GPL");
MODULE_DESCRIPTION("dirtyscope lab: test driver for the shared-mapping dirty helpers");
