// SPDX-License-Identifier: Apache-2.0
/* 8250/16550A UART on port 0x3f8, IRQ 4: transmit goes straight to the
 * output fd, receive comes from serial_feed() through a 64-byte FIFO.
 * Register accesses come from vCPU threads, input from the VMM thread; one
 * lock covers the state. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "vmm/vmm.h"

enum { RBR_THR, IER, IIR_FCR, LCR, MCR, LSR, MSR, SCR };

#define IER_RDI 0x01
#define IER_THRI 0x02
#define IIR_NONE 0x01
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_FIFO 0xc0
#define FCR_ENABLE 0x01
#define LCR_DLAB 0x80
#define MCR_LOOP 0x10
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80
#define RX_FIFO 64

struct serial {
	pthread_mutex_t lock;
	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
	bool thr_empty_pending;
	bool irq_pending; /* an interrupt condition is raised (edge sent) */
	uint8_t rx[RX_FIFO];
	unsigned rx_head, rx_count;
	int out_fd;
	uint64_t out_left; /* bytes out_fd may still take; UINT64_MAX: any */
	void (*irq_fn)(void *, unsigned);
	void *irq_opaque;
};

static uint64_t out_limit = SERIAL_OUT_LIMIT_DEFAULT;

void serial_set_out_limit(uint64_t bytes)
{
	out_limit = bytes;
}

struct serial *serial_create(int out_fd, void (*irq_fn)(void *, unsigned),
			     void *irq_opaque)
{
	struct serial *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	pthread_mutex_init(&s->lock, NULL);
	s->out_fd = out_fd;
	s->out_left = out_limit ? out_limit : UINT64_MAX;
	s->irq_fn = irq_fn;
	s->irq_opaque = irq_opaque;
	s->dll = 12; /* 9600 baud */
	s->mcr = 0x08; /* OUT2 */
	return s;
}

void serial_destroy(struct serial *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static uint8_t iir(const struct serial *s)
{
	uint8_t fifo = (s->fcr & FCR_ENABLE) ? IIR_FIFO : 0;

	if ((s->ier & IER_RDI) && s->rx_count)
		return IIR_RDI | fifo;
	if ((s->ier & IER_THRI) && s->thr_empty_pending)
		return IIR_THRI | fifo;
	return IIR_NONE | fifo;
}

/* The ISA line is edge-triggered: pulse it when a condition appears. */
static void update_irq(struct serial *s)
{
	bool pending = !(iir(s) & IIR_NONE);

	if (pending && !s->irq_pending)
		s->irq_fn(s->irq_opaque, SERIAL_IRQ);
	s->irq_pending = pending;
}

static bool rx_push(struct serial *s, uint8_t byte)
{
	if (s->rx_count == RX_FIFO)
		return false;
	s->rx[(s->rx_head + s->rx_count++) % RX_FIFO] = byte;
	return true;
}

static uint8_t rx_pop(struct serial *s)
{
	uint8_t byte;

	if (!s->rx_count)
		return 0;
	byte = s->rx[s->rx_head];
	s->rx_head = (s->rx_head + 1) % RX_FIFO;
	s->rx_count--;
	return byte;
}

/* One byte went out: spends the console's budget, says once when it is
 * gone. */
static void spend_out(struct serial *s)
{
	metrics_inc(M_UART_TX_BYTES);
	if (s->out_left != UINT64_MAX && --s->out_left == 0)
		log_warn(
			"serial: the guest's console reached --serial-out-limit; its further output is dropped (uart.over_limit_count)");
}

static void transmit(struct serial *s, uint8_t byte)
{
	if (s->mcr & MCR_LOOP)
		rx_push(s, byte);
	else if (!s->out_left)
		metrics_inc(M_UART_OVER_LIMIT);
	else if (write(s->out_fd, &byte, 1) == 1)
		spend_out(s);
	else if (errno == EAGAIN)
		metrics_inc(M_UART_MISSED_TX);
	else
		s->out_fd = -1; /* output gone: drop console bytes from now */
	s->thr_empty_pending = true;
}

/* In loopback the modem outputs feed the modem inputs. */
static uint8_t modem_status(const struct serial *s)
{
	if (!(s->mcr & MCR_LOOP))
		return MSR_DCD | MSR_DSR | MSR_CTS;
	return (uint8_t)(((s->mcr & 0x02) ? MSR_CTS : 0) |
			 ((s->mcr & 0x01) ? MSR_DSR : 0) |
			 ((s->mcr & 0x04) ? MSR_RI : 0) |
			 ((s->mcr & 0x08) ? MSR_DCD : 0));
}

static uint8_t serial_read(struct serial *s, uint64_t off)
{
	uint8_t v;

	switch (off) {
	case RBR_THR:
		return (s->lcr & LCR_DLAB) ? s->dll : rx_pop(s);
	case IER:
		return (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
	case IIR_FCR:
		v = iir(s);
		if ((v & 0x0f) == IIR_THRI)
			s->thr_empty_pending = false;
		return v;
	case LCR:
		return s->lcr;
	case MCR:
		return s->mcr;
	case LSR:
		return (uint8_t)(LSR_THRE | LSR_TEMT |
				 (s->rx_count ? LSR_DR : 0));
	case MSR:
		return modem_status(s);
	default:
		return s->scr;
	}
}

static void serial_write(struct serial *s, uint64_t off, uint8_t v)
{
	switch (off) {
	case RBR_THR:
		if (s->lcr & LCR_DLAB)
			s->dll = v;
		else
			transmit(s, v);
		break;
	case IER:
		if (s->lcr & LCR_DLAB) {
			s->dlm = v;
			break;
		}
		if ((v & IER_THRI) && !(s->ier & IER_THRI))
			s->thr_empty_pending = true;
		s->ier = v & 0x0f;
		break;
	case IIR_FCR:
		s->fcr = v & FCR_ENABLE;
		if (v & 0x02) /* clear receive FIFO */
			s->rx_count = 0;
		break;
	case LCR:
		s->lcr = v;
		break;
	case MCR:
		s->mcr = v & 0x1f;
		break;
	case SCR:
		s->scr = v;
		break;
	default: /* LSR and MSR are read-only */
		break;
	}
}

void serial_access(void *dev, uint64_t off, uint8_t *data, uint32_t len,
		   bool is_write)
{
	struct serial *s = dev;

	if (len != 1) {
		if (!is_write)
			*data = 0xff;
		return;
	}
	pthread_mutex_lock(&s->lock);
	if (is_write)
		serial_write(s, off, *data);
	else
		*data = serial_read(s, off);
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

size_t serial_feed(struct serial *s, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	pthread_mutex_lock(&s->lock);
	while (n < len && rx_push(s, buf[n]))
		n++;
	metrics_add(M_UART_RX_BYTES, n);
	metrics_add(M_UART_MISSED_RX, len - n);
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}

void serial_save(struct serial *s, struct serial_state *out)
{
	pthread_mutex_lock(&s->lock);
	*out = (struct serial_state){ s->ier, s->lcr, s->mcr, s->scr,
				      s->fcr, s->dll, s->dlm, 0 };
	pthread_mutex_unlock(&s->lock);
}

void serial_restore(struct serial *s, const struct serial_state *in)
{
	pthread_mutex_lock(&s->lock);
	s->ier = in->ier;
	s->lcr = in->lcr;
	s->mcr = in->mcr;
	s->scr = in->scr;
	s->fcr = in->fcr;
	s->dll = in->dll;
	s->dlm = in->dlm;
	s->thr_empty_pending = true; /* a waiting transmitter resumes */
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}
